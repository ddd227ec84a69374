# Stack two-region, as its stack file says. Durations are in seconds.

name             = "two-region"
primary_region   = "us-east-1"
secondary_region = "us-west-2"

dns = {
  zone                   = "example.com"
  domain                 = "app.example.com"
  evaluate_target_health = true
  health_check = {
    path              = "/health"
    request_interval  = 30
    failure_threshold = 3
  }
}
# The stack file's ttl = 60 is not exported: alias records have no TTL of
# their own, Route53 answers with the load balancer record's 60 seconds.

instance_type = "t3.micro"

primary_vpc = {
  cidr            = "10.0.0.0/16"
  azs             = ["us-east-1a", "us-east-1b"]
  public_subnets  = ["10.0.1.0/24", "10.0.2.0/24"]
  private_subnets = ["10.0.11.0/24", "10.0.12.0/24"]
}

primary_load_balancer = {
  port                 = 80
  algorithm            = "round_robin"
  deregistration_delay = 300
  idle_timeout         = 60
  access_logs          = false
  health_check = {
    path                = "/health"
    port                = "traffic-port"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200"
  }
}

primary_autoscaling = {
  min_size                  = 2
  max_size                  = 4
  desired_capacity          = 2
  health_check_type         = "ELB"
  health_check_grace_period = 300
  instance_port             = 8080
  scale_out = {
    cpu_threshold       = 70
    period              = 60
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = 1
    cooldown            = 300
  }
  scale_in = {
    cpu_threshold       = 30
    period              = 60
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = -1
    cooldown            = 300
  }
}

primary_ami_id          = ""
primary_certificate_arn = ""

secondary_vpc = {
  cidr            = "10.1.0.0/16"
  azs             = ["us-west-2a", "us-west-2b"]
  public_subnets  = ["10.1.1.0/24", "10.1.2.0/24"]
  private_subnets = ["10.1.11.0/24", "10.1.12.0/24"]
}

secondary_load_balancer = {
  port                 = 80
  algorithm            = "round_robin"
  deregistration_delay = 300
  idle_timeout         = 60
  access_logs          = false
  health_check = {
    path                = "/health"
    port                = "traffic-port"
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200"
  }
}

secondary_autoscaling = {
  min_size                  = 2
  max_size                  = 4
  desired_capacity          = 2
  health_check_type         = "ELB"
  health_check_grace_period = 300
  instance_port             = 8080
  scale_out = {
    cpu_threshold       = 70
    period              = 60
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = 1
    cooldown            = 300
  }
  scale_in = {
    cpu_threshold       = 30
    period              = 60
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = -1
    cooldown            = 300
  }
}

secondary_ami_id          = ""
secondary_certificate_arn = ""

database = {
  engine                  = "mysql"
  engine_version          = "8.0"
  parameter_group_family  = "mysql8.0"
  instance_class          = "db.t3.micro"
  allocated_storage       = 20
  multi_az                = true
  port                    = 3306
  name                    = "app"
  username                = "hastack"
  backup_retention_period = 7
  deletion_protection     = true
}

primary_user_data = <<EOT
#!/bin/bash
# A stand-in for the application: a static web server on port 8080 that
# answers the health checks. Replace it with your program, which must
# listen on port 8080 and serve the health check paths.
set -euo pipefail
export PORT=8080
export HASTACK_LISTEN=0.0.0.0:8080
export HASTACK_REGION=us-east-1
mkdir -p /opt/app/www
echo ok >/opt/app/www/health
nohup python3 -m http.server --directory /opt/app/www 8080 >>/var/log/app.log 2>&1 &
EOT

secondary_user_data = <<EOT
#!/bin/bash
# A stand-in for the application: a static web server on port 8080 that
# answers the health checks. Replace it with your program, which must
# listen on port 8080 and serve the health check paths.
set -euo pipefail
export PORT=8080
export HASTACK_LISTEN=0.0.0.0:8080
export HASTACK_REGION=us-west-2
mkdir -p /opt/app/www
echo ok >/opt/app/www/health
nohup python3 -m http.server --directory /opt/app/www 8080 >>/var/log/app.log 2>&1 &
EOT

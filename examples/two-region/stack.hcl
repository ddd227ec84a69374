# Two regions that fail over to each other: the seed's topology with the
# seed's numbers. Route53 failover DNS in front; in each region a VPC, an
# Application Load Balancer and an Auto Scaling group; a MySQL primary
# (the seed's RDS engine, which hastack runs on MariaDB) with a Multi-AZ
# standby and a read replica in the other region.
#
# `hastack up -f examples/two-region/stack.hcl` runs it all on this machine.
# These are AWS-like timings, so a region failover takes minutes; see
# examples/quick-mysql for the same stack tuned for demos, and
# examples/quick for that on PostgreSQL.

# The stack's name; it also names its state directory.
name = "two-region"

# DNS: one failover record. Clients ask for app.example.com and get the
# primary region's load balancer while it is healthy, else the secondary's.
dns {
  domain = "app.example.com"
  zone   = "example.com" # the hosted zone that holds the record
  ttl    = 60            # seconds clients may cache an answer
  listen = "127.0.0.1:5353"

  # Also count a region down when its load balancer has no healthy instance.
  evaluate_target_health = true

  # Each checker GETs /health on each region's load balancer every 30 s;
  # three failures in a row mark the region unhealthy (about 90 s).
  health_check {
    path              = "/health"
    request_interval  = "30s"
    failure_threshold = 3
    connect_timeout   = "4s"
    response_timeout  = "2s"
    checkers          = 3
  }
}

# Shared settings for every region. A region may override any of them by
# writing the same block, attribute by attribute.
load_balancer {
  port                     = 80
  algorithm                = "round_robin"
  deregistration_delay     = "300s" # how long a removed instance may finish its requests
  idle_timeout             = "60s"  # a target slower than this gets the client a 504
  retry_on_connect_failure = false  # as AWS: an ALB never retries
  access_logs              = false

  # The load balancer's own check of each instance.
  health_check {
    path                = "/health"
    port                = 0 # 0 checks the port traffic goes to
    interval            = "30s"
    timeout             = "5s"
    healthy_threshold   = 2
    unhealthy_threshold = 2
    matcher             = "200"
  }
}

autoscaling {
  min_size         = 2
  max_size         = 4
  desired_capacity = 2

  # Replace an instance the load balancer reports unhealthy, once it has
  # had 300 s to start.
  health_check_type         = "ELB"
  health_check_grace_period = "300s"

  # What each instance runs. No command runs the bundled demo web app; any
  # program that listens on the given port and serves /health will do.
  launch_template {
    command = ""
    args    = []
    env     = {}
    port    = 8080
  }

  # Add an instance when average CPU stays above 70% for two minutes.
  scale_out {
    cpu_threshold       = 70
    period              = "60s"
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = 1
    cooldown            = "300s"
  }

  # Remove one when it stays below 30%.
  scale_in {
    cpu_threshold       = 30
    period              = "60s"
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = -1
    cooldown            = "300s"
  }
}

# The primary region serves traffic and holds the writable database.
region "us-east-1" {
  role = "primary"

  # One public subnet (load balancer) and one private subnet (instances,
  # database) per availability zone.
  vpc {
    cidr            = "10.0.0.0/16"
    azs             = ["us-east-1a", "us-east-1b"]
    public_subnets  = ["10.0.1.0/24", "10.0.2.0/24"]
    private_subnets = ["10.0.11.0/24", "10.0.12.0/24"]
  }
}

# The secondary region runs the same web tier and takes over when DNS
# stops answering with the primary.
region "us-west-2" {
  role = "secondary"

  vpc {
    cidr            = "10.1.0.0/16"
    azs             = ["us-west-2a", "us-west-2b"]
    public_subnets  = ["10.1.1.0/24", "10.1.2.0/24"]
    private_subnets = ["10.1.11.0/24", "10.1.12.0/24"]
  }
}

# MySQL in the primary region, as in the seed; hastack runs it on MariaDB.
# The standby in another AZ (multi_az) acknowledges each commit with
# semi-synchronous replication; the read replica in us-west-2 follows
# asynchronously with GTIDs.
database {
  engine   = "mysql"
  multi_az = true
  port     = 3306
  name     = "app"
  username = "hastack"

  # As in the seed, an operator promotes the replica after a region loss
  # (`hastack promote`); "automatic" lets hastack do it, with fencing.
  cross_region_failover = "manual"

  # Promote the Multi-AZ standby once the primary has been unreachable this long.
  failover_detection = "10s"
  # With cross_region_failover = "automatic": promote the replica once the
  # primary region has been lost (DNS failed over, primary unreachable) this long.
  region_failover_after = "60s"

  replica {
    region = "us-west-2"
  }
}

# examples/quick on the seed's database engine: RDS MySQL, which hastack
# runs on MariaDB. The Multi-AZ standby acknowledges each commit with
# semi-synchronous replication (lossless, AFTER_SYNC), the replica in
# us-west-2 follows with GTIDs. Keep it in sync with examples/quick; only
# the name and the database engine and port differ.
#
# `hastack up -f examples/quick-mysql/stack.hcl` runs it all on this machine.

# The stack's name; it also names its state directory.
name = "quick-mysql"

# DNS: one failover record. Clients ask for app.example.com and get the
# primary region's load balancer while it is healthy, else the secondary's.
dns {
  domain = "app.example.com"
  zone   = "example.com" # the hosted zone that holds the record
  ttl    = 1             # seconds clients may cache an answer
  listen = "127.0.0.1:5353"

  # Also count a region down when its load balancer has no healthy instance.
  evaluate_target_health = true

  # Each checker GETs /health on each region's load balancer every 0.5 s;
  # three failures in a row mark the region unhealthy (about 1.5 s).
  health_check {
    path              = "/health"
    request_interval  = "500ms"
    failure_threshold = 3
    connect_timeout   = "250ms"
    response_timeout  = "500ms"
    checkers          = 3
  }
}

# Shared settings for every region. A region may override any of them by
# writing the same block, attribute by attribute.
load_balancer {
  port                 = 8080
  algorithm            = "round_robin"
  deregistration_delay = "2s" # how long a removed instance may finish its requests
  idle_timeout         = "5s" # a target slower than this gets the client a 504

  # Beyond ALB: a request whose connection to a dead instance fails is
  # retried once on another healthy one, so losing an instance costs no
  # client errors. AWS's ALB does not do this; the seed example keeps it off.
  retry_on_connect_failure = true
  access_logs              = true # JSON lines in logs/alb-REGION.access.log

  # The load balancer's own check of each instance.
  health_check {
    path                = "/health"
    port                = 0 # 0 checks the port traffic goes to
    interval            = "250ms"
    timeout             = "200ms"
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
  # had 3 s to start.
  health_check_type         = "ELB"
  health_check_grace_period = "3s"

  # What each instance runs. No command runs the bundled demo web app; any
  # program that listens on the given port and serves /health will do.
  launch_template {
    command = ""
    args    = []
    env     = {}
    port    = 8080
  }

  # Add an instance when average CPU stays above 25% for four seconds. The
  # seed scales at 70%; on a two-core machine that also runs the database,
  # the load balancers and the load, instances cannot all pass much more
  # than 25% each, so the quick stack scales lower to show the whole range.
  scale_out {
    cpu_threshold       = 25
    period              = "2s"
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = 1
    cooldown            = "5s"
  }

  # Remove one when it stays below 5%.
  scale_in {
    cpu_threshold       = 5
    period              = "2s"
    evaluation_periods  = 2
    datapoints_to_alarm = 2
    adjustment          = -1
    cooldown            = "5s"
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

# MySQL (MariaDB here) in the primary region, with a semi-synchronous
# standby in another AZ (multi_az) and an asynchronous read replica in
# us-west-2.
database {
  engine   = "mysql"
  multi_az = true
  port     = 3306
  name     = "app"
  username = "hastack"

  # As in the seed, an operator promotes the replica after a region loss
  # (`hastack promote`); "automatic" lets hastack do it, with fencing.
  cross_region_failover = "manual"

  # Promote the Multi-AZ standby once the primary has been unreachable this
  # long (a primary whose server died is replaced at once). Two seconds
  # leave room for a server slow to answer on a loaded machine.
  failover_detection = "2s"
  # With cross_region_failover = "automatic": promote the replica once the
  # primary region has been lost (DNS failed over, primary unreachable) this long.
  region_failover_after = "3s"

  replica {
    region = "us-west-2"
  }
}

package terraform

var vpcVariables = []variable{
	{"name", "string", "Prefix of resource names.", ""},
	{"cidr", "string", "IPv4 block of the VPC, e.g. 10.0.0.0/16.", ""},
	{"availability_zones", "list(string)", "Availability zones, one public and one private subnet in each.", ""},
	{"public_subnet_cidrs", "list(string)", "One CIDR per availability zone, in the same order: the load balancer's subnets.", ""},
	{"private_subnet_cidrs", "list(string)", "One CIDR per availability zone, in the same order: the instances' and the database's subnets.", ""},
}

var vpcOutputs = []output{
	{"vpc_id", "ID of the VPC.", "aws_vpc.this.id"},
	{"vpc_cidr_block", "IPv4 block of the VPC.", "aws_vpc.this.cidr_block"},
	{"public_subnet_ids", "IDs of the public subnets, in availability zone order.", "aws_subnet.public[*].id"},
	{"private_subnet_ids", "IDs of the private subnets, in availability zone order.", "aws_subnet.private[*].id"},
	{"internet_gateway_id", "ID of the internet gateway.", "aws_internet_gateway.this.id"},
	{"nat_gateway_ids", "IDs of the NAT gateways, one per availability zone.", "aws_nat_gateway.this[*].id"},
	{"nat_public_ips", "Public addresses the private subnets reach the internet from.", "aws_eip.nat[*].public_ip"},
}

func vpcMain() []byte {
	f := newFile()
	r := f.root()
	requireAWS(r)

	vpc := r.top("resource", "aws_vpc", "this")
	vpc.ref("cidr_block", "var.cidr")
	vpc.boolean("enable_dns_support", true)
	vpc.boolean("enable_dns_hostnames", true)
	tags(vpc, `var.name`)

	igw := r.top("resource", "aws_internet_gateway", "this")
	igw.ref("vpc_id", "aws_vpc.this.id")
	tags(igw, `var.name`)

	for _, kind := range []string{"public", "private"} {
		sn := r.top("resource", "aws_subnet", kind)
		sn.expr("count", "length(var.availability_zones)")
		sn.ref("vpc_id", "aws_vpc.this.id")
		sn.expr("cidr_block", "var."+kind+"_subnet_cidrs[count.index]")
		sn.expr("availability_zone", "var.availability_zones[count.index]")
		if kind == "public" {
			sn.boolean("map_public_ip_on_launch", true)
		}
		tags(sn, `"${var.name}-`+kind+`-${var.availability_zones[count.index]}"`)
	}

	eip := r.noted([]string{
		"One NAT gateway per availability zone, so losing a zone does not cut the",
		"other zones' private subnets off the internet.",
	}, "resource", "aws_eip", "nat")
	eip.expr("count", "length(var.availability_zones)")
	eip.str("domain", "vpc")
	eip.expr("depends_on", "[aws_internet_gateway.this]")
	tags(eip, `"${var.name}-nat-${var.availability_zones[count.index]}"`)

	nat := r.top("resource", "aws_nat_gateway", "this")
	nat.expr("count", "length(var.availability_zones)")
	nat.expr("allocation_id", "aws_eip.nat[count.index].id")
	nat.expr("subnet_id", "aws_subnet.public[count.index].id")
	nat.expr("depends_on", "[aws_internet_gateway.this]")
	tags(nat, `"${var.name}-${var.availability_zones[count.index]}"`)

	pub := r.top("resource", "aws_route_table", "public")
	pub.ref("vpc_id", "aws_vpc.this.id")
	route := pub.block("route")
	route.str("cidr_block", "0.0.0.0/0")
	route.ref("gateway_id", "aws_internet_gateway.this.id")
	pub.AppendNewline()
	tags(pub, `"${var.name}-public"`)

	pa := r.top("resource", "aws_route_table_association", "public")
	pa.expr("count", "length(var.availability_zones)")
	pa.expr("subnet_id", "aws_subnet.public[count.index].id")
	pa.ref("route_table_id", "aws_route_table.public.id")

	priv := r.top("resource", "aws_route_table", "private")
	priv.expr("count", "length(var.availability_zones)")
	priv.ref("vpc_id", "aws_vpc.this.id")
	route = priv.block("route")
	route.str("cidr_block", "0.0.0.0/0")
	route.expr("nat_gateway_id", "aws_nat_gateway.this[count.index].id")
	priv.AppendNewline()
	tags(priv, `"${var.name}-private-${var.availability_zones[count.index]}"`)

	pra := r.top("resource", "aws_route_table_association", "private")
	pra.expr("count", "length(var.availability_zones)")
	pra.expr("subnet_id", "aws_subnet.private[count.index].id")
	pra.expr("route_table_id", "aws_route_table.private[count.index].id")
	return f.bytes()
}

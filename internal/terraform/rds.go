package terraform

var rdsVariables = []variable{
	{"identifier", "string", "DB instance identifier, unique in the region.", ""},
	{"vpc_id", "string", "VPC of the database's security group.", ""},
	{"subnet_ids", "list(string)", "Private subnets of the DB subnet group, in at least two availability zones.", ""},
	{"allowed_security_group_ids", "list(string)", "Security groups that may connect: the instances'.", ""},
	{"port", "number", "Port the database listens on.", ""},
	{"instance_class", "string", "DB instance class.", ""},
	{"multi_az", "bool", "Keep a synchronous standby in another availability zone, promoted automatically when the primary fails.", ""},
	{"is_replica", "bool", "Create a read replica of replicate_source_db instead of a primary.", "false"},
	{"replicate_source_db", "string", "ARN of the primary a replica follows (a cross-region replica needs the ARN).", "null"},
	{"engine", "string", "RDS engine of a primary, postgres or mysql; a replica follows its primary's.", ""},
	{"engine_version", "string", "Engine version of a primary (e.g. 16 for postgres, 8.0 for mysql); a replica follows its primary's.", ""},
	{"parameter_group_family", "string", "DB parameter group family matching the engine and version (e.g. postgres16, mysql8.0).", ""},
	{"allocated_storage", "number", "Storage of a primary in GiB; a replica gets its primary's.", "20"},
	{"db_name", "string", "Application database a primary creates.", "null"},
	{"username", "string", "Master user of a primary; RDS keeps its password in Secrets Manager.", "null"},
	{"backup_retention_period", "number", "Days of automated backups of a primary (1-35); replicas need them.", "7"},
	{"deletion_protection", "bool", "Refuse to delete the instance until this is turned off.", "true"},
}

var rdsOutputs = []output{
	{"db_instance_arn", "ARN of the DB instance, the source of cross-region replicas.", "aws_db_instance.this.arn"},
	{"db_instance_identifier", "Identifier of the DB instance.", "aws_db_instance.this.identifier"},
	{"endpoint", "host:port clients connect to; on a Multi-AZ primary it follows the standby after a failover.", "aws_db_instance.this.endpoint"},
	{"address", "Host name of the DB instance.", "aws_db_instance.this.address"},
	{"master_user_secret_arn", "Secrets Manager secret with the master password of a primary, or null for a replica.", "one(aws_db_instance.this.master_user_secret[*].secret_arn)"},
	{"kms_key_arn", "KMS key that encrypts a cross-region replica's storage, or null for a primary.", "one(aws_kms_key.replica[*].arn)"},
	{"security_group_id", "Security group of the database.", "aws_security_group.db.id"},
}

func rdsMain() []byte {
	f := newFile()
	r := f.root()
	requireAWS(r)

	sn := r.top("resource", "aws_db_subnet_group", "this")
	sn.ref("name", "var.identifier")
	sn.ref("subnet_ids", "var.subnet_ids")
	tags(sn, "var.identifier")

	sg := r.top("resource", "aws_security_group", "db")
	sg.ref("name", "var.identifier")
	sg.str("description", "Database port from the instances only")
	sg.ref("vpc_id", "var.vpc_id")
	in := sg.block("ingress")
	in.str("description", "Instances")
	in.ref("from_port", "var.port")
	in.ref("to_port", "var.port")
	in.str("protocol", "tcp")
	in.ref("security_groups", "var.allowed_security_group_ids")
	sg.AppendNewline()
	tags(sg, "var.identifier")

	key := r.noted([]string{
		"An encrypted primary's replica in another region must be encrypted with a",
		"key of its own region.",
	}, "resource", "aws_kms_key", "replica")
	key.expr("count", "var.is_replica ? 1 : 0")
	key.expr("description", `"Storage of ${var.identifier}"`)
	key.num("deletion_window_in_days", 30)
	key.boolean("enable_key_rotation", true)
	tags(key, "var.identifier")

	pg := r.noted([]string{
		"The engine's settings, in a group of the database's own, so they can be",
		"changed without touching other databases; a replica gets one in its region.",
	}, "resource", "aws_db_parameter_group", "this")
	pg.ref("name", "var.identifier")
	pg.ref("family", "var.parameter_group_family")
	tags(pg, "var.identifier")

	db := r.top("resource", "aws_db_instance", "this")
	db.ref("identifier", "var.identifier")
	db.expr("engine", "var.is_replica ? null : var.engine")
	db.expr("engine_version", "var.is_replica ? null : var.engine_version")
	db.ref("instance_class", "var.instance_class")
	db.expr("allocated_storage", "var.is_replica ? null : var.allocated_storage")
	db.str("storage_type", "gp3")
	db.boolean("storage_encrypted", true)
	db.expr("kms_key_id", "one(aws_kms_key.replica[*].arn)")
	db.expr("replicate_source_db", "var.is_replica ? var.replicate_source_db : null")
	db.expr("db_name", "var.is_replica ? null : var.db_name")
	db.expr("username", "var.is_replica ? null : var.username")
	db.expr("manage_master_user_password", "var.is_replica ? null : true")
	db.ref("port", "var.port")
	db.ref("multi_az", "var.multi_az")
	db.ref("db_subnet_group_name", "aws_db_subnet_group.this.name")
	db.ref("parameter_group_name", "aws_db_parameter_group.this.name")
	db.expr("vpc_security_group_ids", "[aws_security_group.db.id]")
	db.boolean("publicly_accessible", false)
	db.comment(
		"The read replica keeps no automated backups of its own; give it a retention",
		"period when promoting it (promote-read-replica --backup-retention-period).",
	)
	db.expr("backup_retention_period", "var.is_replica ? 0 : var.backup_retention_period")
	db.ref("deletion_protection", "var.deletion_protection")
	db.comment("A replica cannot leave a final snapshot; a primary does.")
	db.ref("skip_final_snapshot", "var.is_replica")
	db.expr("final_snapshot_identifier", `var.is_replica ? null : "${var.identifier}-final"`)
	db.boolean("copy_tags_to_snapshot", true)
	db.boolean("auto_minor_version_upgrade", true)
	tags(db, "var.identifier")
	return f.bytes()
}

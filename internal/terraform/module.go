package terraform

// variable is one input of a module or of the calling configuration.
type variable struct {
	name string
	typ  string // HCL type expression
	desc string
	def  string // HCL source of the default; "" makes the variable required
}

// output is one output of a module or of the calling configuration.
type output struct {
	name  string
	desc  string
	value string // HCL expression
}

// module is one of the five modules under modules/.
type module struct {
	name string
	main func() []byte
	vars []variable
	outs []output
}

// modules are generic: the stack's values reach them only through the
// calling configuration, so their files are the same for every stack.
func modules() []module {
	return []module{
		{"vpc", vpcMain, vpcVariables, vpcOutputs},
		{"alb", albMain, albVariables, albOutputs},
		{"asg", asgMain, asgVariables, asgOutputs},
		{"rds", rdsMain, rdsVariables, rdsOutputs},
		{"route53", route53Main, route53Variables, route53Outputs},
	}
}

func variablesFile(vars []variable) []byte {
	f := newFile()
	r := f.root()
	for _, v := range vars {
		b := r.top("variable", v.name)
		b.str("description", v.desc)
		b.expr("type", v.typ)
		if v.def != "" {
			b.expr("default", v.def)
		}
	}
	return f.bytes()
}

func outputsFile(outs []output) []byte {
	f := newFile()
	r := f.root()
	for _, o := range outs {
		b := r.top("output", o.name)
		b.str("description", o.desc)
		b.expr("value", o.value)
	}
	return f.bytes()
}

// requireAWS declares the provider a module needs; the calling
// configuration pins its version.
func requireAWS(r body) {
	r.top("terraform").block("required_providers").raw("aws", object{}.
		str("source", "hashicorp/aws").
		str("version", moduleProviderVersion).tokens())
}

// tags is a Name tag built from an HCL template.
func tags(r body, nameTemplate string) {
	r.raw("tags", object{}.expr("Name", nameTemplate).tokens())
}

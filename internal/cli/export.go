package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/terraform"
)

// exportFormats are what `export` writes.
var exportFormats = []string{"terraform"}

func newExport(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export FORMAT",
		Short: "Export the stack for deployment elsewhere (" + strings.Join(exportFormats, ", ") + ")",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, a []string) error {
			if len(a) == 0 {
				return usageError{fmt.Errorf("export needs a format: %s", strings.Join(exportFormats, ", "))}
			}
			return usageError{fmt.Errorf("unknown export format %q (supported: %s)", a[0], strings.Join(exportFormats, ", "))}
		},
	}
	cmd.AddCommand(newExportTerraform(g))
	return cmd
}

func newExportTerraform(g *globals) *cobra.Command {
	var (
		dir   string
		force bool
		opts  terraform.Options
	)
	cmd := &cobra.Command{
		Use:   "terraform",
		Short: "Write the stack as Terraform for AWS: five modules and envs/prod",
		Long: `Write the stack as Terraform for AWS, in the layout modules/{vpc,alb,asg,rds,route53}
and envs/prod, with the stack file's regions, CIDRs, sizes, thresholds and intervals.
Settings AWS cannot express (such as sub-second timings) are refused, each named.
Deploy with: terraform -chdir=DIR/envs/prod init && terraform -chdir=DIR/envs/prod apply`,
		Args: args(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			s, err := g.load()
			if err != nil {
				return err
			}
			files, err := terraform.Export(s, opts)
			if err != nil {
				return err
			}
			if dir == "" {
				dir = "terraform-" + s.Name
			}
			if err := writeExport(dir, files, force); err != nil {
				return err
			}
			for _, p := range terraform.Paths(files) {
				fmt.Fprintf(g.stdout, "wrote %s\n", filepath.Join(dir, filepath.FromSlash(p)))
			}
			fmt.Fprintf(g.stdout, "exported stack %s to %s (%d files); next: terraform -chdir=%s init\n",
				s.Name, dir, len(files), filepath.Join(dir, "envs", "prod"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&dir, "output", "o", "", "directory to write (default ./terraform-NAME)")
	f.BoolVar(&force, "force", false, "write into a directory that is not empty, replacing files of the same name")
	f.StringVar(&opts.StateBucket, "state-bucket", "", "S3 bucket of the Terraform state (default NAME-tfstate)")
	f.StringVar(&opts.InstanceType, "instance-type", "", "EC2 instance type (default t3.micro)")
	f.StringVar(&opts.DBInstanceClass, "db-instance-class", "", "RDS instance class (default db.t3.micro)")
	f.StringToStringVar(&opts.AMI, "ami", nil, "AMI per region, REGION=AMI_ID (default: latest Amazon Linux 2023)")
	f.StringToStringVar(&opts.CertificateARN, "certificate-arn", nil, "ACM certificate per region for an HTTPS listener, REGION=ARN")
	return cmd
}

// writeExport writes files under dir, which must be empty or missing unless force.
func writeExport(dir string, files map[string][]byte, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading output directory: %w", err)
	case len(entries) > 0 && !force:
		return fmt.Errorf("output directory %s is not empty; choose another with -o or pass --force to overwrite its files", dir)
	}
	for _, p := range terraform.Paths(files) {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, files[p], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

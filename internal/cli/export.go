package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

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

// writeExport writes files under dir, which must be empty or missing unless
// force. Nothing below dir is reached through a symbolic link: hastack
// often runs as root, and dir may be one another user can write to.
func writeExport(dir string, files map[string][]byte, force bool) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading output directory: %w", err)
	case len(entries) > 0 && !force:
		return fmt.Errorf("output directory %s is not empty; choose another with -o or pass --force to overwrite its files", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer unix.Close(root)
	for _, p := range terraform.Paths(files) {
		if err := writeBelow(root, dir, p, files[p]); err != nil {
			return err
		}
	}
	return nil
}

// writeBelow writes data to rel (slash-separated) below the directory
// open as root, named dir in messages. Directories on the way are created
// or opened without following links; the file is written to a new
// temporary file and renamed over rel, which replaces a link rather than
// writing where it points.
func writeBelow(root int, dir, rel string, data []byte) error {
	parts := strings.Split(rel, "/")
	fd, err := unix.Dup(root)
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(dir, rel), err)
	}
	defer func() { unix.Close(fd) }()
	at := dir
	for _, name := range parts[:len(parts)-1] {
		at = filepath.Join(at, name)
		if err := unix.Mkdirat(fd, name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("creating %s: %w", at, err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("%s is not a directory (a symbolic link?); not writing through it", at)
		}
		if err != nil {
			return fmt.Errorf("opening %s: %w", at, err)
		}
		unix.Close(fd)
		fd = next
	}
	name := parts[len(parts)-1]
	path := filepath.Join(at, name)
	tmp := fmt.Sprintf(".%s.%d.tmp", name, os.Getpid())
	f, err := unix.Openat(fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	file := os.NewFile(uintptr(f), path)
	_, err = file.Write(data)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(fd, tmp, fd, name)
	}
	if err != nil {
		_ = unix.Unlinkat(fd, tmp, 0)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

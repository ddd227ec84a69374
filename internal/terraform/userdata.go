package terraform

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/hastack/hastack/internal/spec"
)

// userData is the boot script of r's instances: the launch template's
// command with its environment, or a stand-in web server that answers the
// health checks, as the bundled demo app does locally.
func (l *layout) userData(r *spec.Region) string {
	if l.opts.UserData != "" {
		return l.opts.UserData
	}
	lt := r.AutoScaling.LaunchTemplate
	port := strconv.Itoa(lt.Port)
	var b strings.Builder
	b.WriteString("#!/bin/bash\n")
	if lt.Command == "" {
		b.WriteString("# A stand-in for the application: a static web server on port " + port + " that\n")
		b.WriteString("# answers the health checks. Replace it with your program, which must\n")
		b.WriteString("# listen on port " + port + " and serve the health check paths.\n")
	} else {
		b.WriteString("# The stack file's launch template. Install " + shellQuote(lt.Command) + " on the AMI\n")
		b.WriteString("# (or add the steps that install it here).\n")
	}
	b.WriteString("set -euo pipefail\n")
	b.WriteString("export PORT=" + port + "\n")
	b.WriteString("export HASTACK_LISTEN=0.0.0.0:" + port + "\n")
	b.WriteString("export HASTACK_REGION=" + r.Name + "\n")
	for _, k := range slices.Sorted(maps.Keys(lt.Env)) {
		b.WriteString("export " + k + "=" + shellQuote(lt.Env[k]) + "\n")
	}
	if lt.Command != "" {
		args := []string{shellQuote(lt.Command)}
		for _, a := range lt.Args {
			args = append(args, shellQuote(a))
		}
		b.WriteString("nohup " + strings.Join(args, " ") + " >>/var/log/app.log 2>&1 &\n")
		return b.String()
	}
	b.WriteString("mkdir -p /opt/app/www\n")
	for _, p := range l.healthPaths(r) {
		dir, _ := splitPath(p)
		if dir != "" {
			b.WriteString("mkdir -p " + shellQuote("/opt/app/www/"+dir) + "\n")
		}
		b.WriteString("echo ok >" + shellQuote("/opt/app/www/"+p) + "\n")
	}
	servers := []string{port}
	if hp := r.LoadBalancer.HealthCheck.Port; hp != 0 && hp != lt.Port {
		servers = append(servers, strconv.Itoa(hp))
	}
	for _, p := range servers {
		b.WriteString("nohup python3 -m http.server --directory /opt/app/www " + p + " >>/var/log/app.log 2>&1 &\n")
	}
	return b.String()
}

// healthPaths are the files the stand-in serves: the load balancer's and
// Route53's health check paths, relative to the web root, without query.
func (l *layout) healthPaths(r *spec.Region) []string {
	var out []string
	for _, p := range []string{r.LoadBalancer.HealthCheck.Path, l.s.DNS.HealthCheck.Path} {
		p, _, _ = strings.Cut(p, "?")
		p = strings.TrimPrefix(p, "/")
		if p == "" || strings.HasSuffix(p, "/") || strings.Contains(p, "..") || slices.Contains(out, p) {
			continue // a directory answers 200 with its listing
		}
		out = append(out, p)
	}
	return out
}

func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// shellQuote is s as one bash word that stands for s verbatim and spans
// one line: bare when it is only safe characters; in single quotes, each
// quote in it closed, escaped and reopened, when it has no control
// characters; else in ANSI-C quotes ($'...') with every control character
// escaped. No value can end a line of the script, start a command or
// expand anything.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,@%+") == "" {
		return s
	}
	if !strings.ContainsFunc(s, isControl) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// isControl reports the characters single quotes would keep raw: ASCII
// controls, line ends among them.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// heredoc is s as a heredoc string, its template sequences escaped.
func heredoc(s string) hclwrite.Tokens {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	s = strings.NewReplacer("${", "$${", "%{", "%%{").Replace(s)
	marker := "EOT"
	for slices.ContainsFunc(strings.Split(s, "\n"), func(line string) bool { return strings.TrimSpace(line) == marker }) {
		marker += "_"
	}
	return exprTokens("<<" + marker + "\n" + s + marker)
}

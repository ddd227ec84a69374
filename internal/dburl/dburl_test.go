package dburl

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestIsMySQL(t *testing.T) {
	for url, want := range map[string]bool{
		"mysql://u:p@h:3306/db":     true,
		"MySQL://u@h/db":            true,
		"postgres://u:p@h:5432/db":  false,
		"postgresql://u@h/db":       false,
		"host=h user=u dbname=db":   false,
		"mysql:u@h/db":              false,
		"":                          false,
		"mysqlx://u@h/db":           false,
		"http://x/?next=mysql://u@": false,
	} {
		if got := IsMySQL(url); got != want {
			t.Errorf("IsMySQL(%q) = %v, want %v", url, got, want)
		}
	}
}

func TestMySQLConfig(t *testing.T) {
	timeouts := Timeouts{Dial: time.Second, Read: 2 * time.Second, Write: 3 * time.Second}
	tests := []struct {
		name, url                     string
		user, password, addr, db, dsn string
	}{
		{"plain", "mysql://app:s3cret@127.0.71.1:3306/appdb",
			"app", "s3cret", "127.0.71.1:3306", "appdb",
			"app:s3cret@tcp(127.0.71.1:3306)/appdb?parseTime=true&readTimeout=2s&timeout=1s&writeTimeout=3s"},
		{"percent-encoded password", "mysql://app:p%40ss%3Aw%2Fo%25rd@10.0.0.1:3307/appdb",
			"app", "p@ss:w/o%rd", "10.0.0.1:3307", "appdb", ""},
		{"no password", "mysql://app@db.example:3306/appdb", "app", "", "db.example:3306", "appdb", ""},
		{"default port", "mysql://app:pw@127.0.0.1/appdb", "app", "pw", "127.0.0.1:3306", "appdb", ""},
		{"IPv6 host", "mysql://app:pw@[::1]:3306/appdb", "app", "pw", "[::1]:3306", "appdb", ""},
		{"upper-case scheme", "MYSQL://app:pw@h:1/d", "app", "pw", "h:1", "d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := MySQLConfig(tt.url, timeouts)
			if err != nil {
				t.Fatal(err)
			}
			if c.User != tt.user || c.Passwd != tt.password || c.Net != "tcp" || c.Addr != tt.addr || c.DBName != tt.db {
				t.Errorf("config user %q password %q %s %s db %q", c.User, c.Passwd, c.Net, c.Addr, c.DBName)
			}
			if _, quiet := c.Logger.(*mysql.NopLogger); !quiet || !c.ParseTime || c.InterpolateParams || c.Timeout != time.Second || c.ReadTimeout != 2*time.Second || c.WriteTimeout != 3*time.Second {
				t.Errorf("options %+v", c)
			}
			dsn, err := MySQLDSN(tt.url, timeouts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.dsn != "" && dsn != tt.dsn {
				t.Errorf("DSN %q, want %q", dsn, tt.dsn)
			}
			back, err := mysql.ParseDSN(dsn)
			if err != nil || back.User != tt.user || back.Passwd != tt.password || back.Addr != tt.addr || back.DBName != tt.db {
				t.Errorf("DSN %q reads back as %+v (%v)", dsn, back, err)
			}
		})
	}
}

func TestMySQLConfigRefuses(t *testing.T) {
	const pw = "Hunter2Secret"
	tests := []struct{ name, url, want string }{
		{"postgres scheme", "postgres://app:" + pw + "@h:5432/db", "scheme"},
		{"no scheme", "app:" + pw + "@h/db", "malformed"},
		{"opaque", "mysql:app:" + pw + "@h/db", "no //"},
		{"no user", "mysql://h:3306/db", "no user"},
		{"empty user", "mysql://:" + pw + "@h:3306/db", "no user"},
		{"no host", "mysql://app:" + pw + "@:3306/db", "no host"},
		{"bad port", "mysql://app:" + pw + "@h:99999/db", "port"},
		{"port zero", "mysql://app:" + pw + "@h:0/db", "port"},
		{"non-numeric port", "mysql://app:" + pw + "@h:x/db", "port"},
		{"no database", "mysql://app:" + pw + "@h:3306", "one database"},
		{"nested path", "mysql://app:" + pw + "@h:3306/db/x", "one database"},
		{"query", "mysql://app:" + pw + "@h:3306/db?tls=false", "query"},
		{"fragment", "mysql://app:" + pw + "@h:3306/db#x", "fragment"},
		{"bad escape in the password", "mysql://app:" + pw + "%zz@h:3306/db", "percent-encoding"},
		{"control character", "mysql://app:" + pw + "\n@h:3306/db", "control character"},
		{"bad host", "mysql://app:" + pw + "@[h:3306/db", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MySQLConfig(tt.url, Timeouts{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("MySQLConfig(...) = %v, want an error saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
	if _, err := MySQLConfig("mysql://a:b@h/d", Timeouts{Read: -1}); err == nil {
		t.Error("a negative timeout was taken")
	}
}

// FuzzMySQLConfig: whatever follows the password, parsing never panics,
// never repeats the password in an error, and a URL it takes gives a DSN
// the driver reads back to the same account, address and database.
func FuzzMySQLConfig(f *testing.F) {
	f.Add("s3cretPassw0rd", "127.0.71.1:3306/appdb")
	f.Add("p%40ss", "[::1]:3306/db")
	f.Add("pw%zz", "h/db")
	f.Add("pw", "h:99999/db?x=1")
	f.Add("pw\n", "h/db")
	f.Add("p@ss", "[h:1/d")
	f.Fuzz(func(t *testing.T, password, rest string) {
		raw := "mysql://app:" + password + "@" + rest
		c, err := MySQLConfig(raw, Timeouts{Dial: time.Second})
		if err != nil {
			decoded, _ := url.PathUnescape(password)
			for _, secret := range []string{password, decoded} {
				if len(secret) >= 6 && !strings.Contains(rest, secret) && !strings.Contains("malformed mysql URL: invalid percent-encoding", secret) &&
					strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q repeats the password", err)
				}
			}
			return
		}
		back, err := mysql.ParseDSN(c.FormatDSN())
		if err != nil {
			t.Fatalf("the DSN of %q does not parse: %v", raw, err)
		}
		if back.User != c.User || back.Passwd != c.Passwd || back.Addr != c.Addr || back.DBName != c.DBName {
			t.Fatalf("the DSN of %q reads back as user %q addr %q db %q", raw, back.User, back.Addr, back.DBName)
		}
	})
}

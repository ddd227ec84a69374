package mariadb

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var testAccounts = Accounts{
	AdminPassword: "admin-secret", ReplicationPassword: "repl-secret",
	AppUser: "app", AppPassword: "app-secret", AppDatabase: "appdb",
}

func TestOptions(t *testing.T) {
	cfg := Config{DataDir: "/d", RunDir: "/r", Addr: netip.MustParseAddrPort("127.0.70.1:3306"), ServerID: 7,
		SemiSyncTimeout: 90 * time.Second, Accounts: testAccounts, Binaries: Binaries{Server: "x"}}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	opts := cfg.options()
	for _, want := range []string{
		"datadir=/d", "socket=/r/mariadbd.sock", "bind_address=127.0.70.1", "port=3306", "server_id=7",
		"log_bin=", "binlog_format=ROW", "log_slave_updates=ON", "gtid_strict_mode=ON", "skip_name_resolve=ON",
		"read_only=ON", "skip_slave_start=ON", "sync_binlog=1", "innodb_flush_log_at_trx_commit=1", "relay_log_recovery=ON",
		"rpl_semi_sync_master_enabled=OFF", "rpl_semi_sync_slave_enabled=ON", "rpl_semi_sync_master_wait_point=AFTER_SYNC",
		"rpl_semi_sync_master_timeout=90000", "innodb_buffer_pool_size=",
	} {
		if !strings.Contains(opts, "\n"+want) {
			t.Errorf("option file lacks %q:\n%s", want, opts)
		}
	}
	for _, pw := range []string{"admin-secret", "repl-secret", "app-secret"} {
		if strings.Contains(opts, pw) {
			t.Errorf("option file holds a password")
		}
	}
	cfg.SemiSync = true
	if !strings.Contains(cfg.options(), "\nrpl_semi_sync_master_enabled=ON\n") {
		t.Error("SemiSync does not turn the wait on")
	}
	if got := cfg.LogPath; got != "/r/mariadbd.log" {
		t.Errorf("default log %s", got)
	}
	if def, _ := (Config{DataDir: "/d", RunDir: "/r", Addr: cfg.Addr, ServerID: 1, Accounts: testAccounts, Binaries: cfg.Binaries}).withDefaults(); def.SemiSyncTimeout != DefaultSemiSyncTimeout {
		t.Errorf("default semi-sync timeout %s", def.SemiSyncTimeout)
	}
}

func TestConfigRefused(t *testing.T) {
	good := Config{DataDir: "/d", RunDir: "/r", Addr: netip.MustParseAddrPort("127.0.70.1:3306"), ServerID: 1,
		Accounts: testAccounts, Binaries: Binaries{Server: "x"}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no data directory", func(c *Config) { c.DataDir = "" }, "data directory"},
		{"relative", func(c *Config) { c.RunDir = "r" }, "absolute"},
		{"not loopback", func(c *Config) { c.Addr = netip.MustParseAddrPort("10.0.0.1:3306") }, "loopback"},
		{"no port", func(c *Config) { c.Addr = netip.MustParseAddrPort("127.0.70.1:0") }, "loopback"},
		{"server id 0", func(c *Config) { c.ServerID = 0 }, "server_id"},
		{"reserved user", func(c *Config) { c.Accounts.AppUser = AdminUser }, "reserved"},
		{"odd user", func(c *Config) { c.Accounts.AppUser = "a'b" }, "application user"},
		{"system database", func(c *Config) { c.Accounts.AppDatabase = "mysql" }, "system database"},
		{"no password", func(c *Config) { c.Accounts.ReplicationPassword = "" }, "replication password"},
	}
	for _, tt := range tests {
		c := good
		tt.change(&c)
		if _, err := c.withDefaults(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error about %q", tt.name, err, tt.want)
		}
	}
	if _, err := good.withDefaults(); err != nil {
		t.Errorf("good config: %v", err)
	}
}

func TestAccountsHidePasswords(t *testing.T) {
	for _, format := range []string{"%v", "%+v", "%s", "%#v"} {
		for _, v := range []any{testAccounts, Config{Accounts: testAccounts}} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, "secret") {
				t.Errorf("%s prints a password: %s", format, out)
			}
		}
	}
	sql := accountsSQL(testAccounts)
	if strings.Contains(sql, "secret") {
		t.Errorf("the accounts' SQL holds a password:\n%s", sql)
	}
	for _, want := range []string{
		"GRANT ALL PRIVILEGES ON *.* TO '" + AdminUser + "'@'%' WITH GRANT OPTION",
		"GRANT REPLICATION SLAVE ON *.* TO '" + ReplicationUser + "'@'%'",
		"GRANT ALL PRIVILEGES ON `appdb`.* TO 'app'@'%'",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("the accounts' SQL lacks %q", want)
		}
	}
}

func TestNativePasswordHash(t *testing.T) {
	// As MariaDB's PASSWORD('secret1') gives it.
	if got, want := nativePasswordHash("secret1"), "*7C67218EF7410F248763DC99AEDC705367393C4A"; got != want {
		t.Errorf("nativePasswordHash = %s, want %s", got, want)
	}
}

func TestOptionValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", `"abc"`},
		{`a"b\c#d`, `"a\"b\\c#d"`},
	}
	for _, tt := range tests {
		if got, err := optionValue(tt.in); err != nil || got != tt.want {
			t.Errorf("optionValue(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := optionValue("a\nb"); err == nil {
		t.Error("a line break was accepted")
	}
}

-- Prosody 0.12 (Debian bookworm) configuration for bench/compare.sh.
--
-- Everything listens on 127.0.0.1 only, in the 25xxx range, and every file
-- Prosody writes goes into the run's directory, given in the environment:
--
--   BENCH_PROSODY_DIR   data, pid file and log (default /tmp/whassap-bench-prosody)
--   BENCH_USERS         accounts bench0..bench(N-1) allowed to create PubSub nodes
--                       (default 20000)
--
-- Start:    BENCH_PROSODY_DIR=/tmp/x prosody -F --config bench/prosody.cfg.lua
-- Register: BENCH_PROSODY_DIR=/tmp/x prosodyctl --config bench/prosody.cfg.lua register bench0 localhost password
-- (as root, start it with `runuser -u prosody --`, or Prosody refuses to run;
-- prosodyctl switches to the prosody user by itself.)

local run_dir = ENV_BENCH_PROSODY_DIR or "/tmp/whassap-bench-prosody"
local bench_users = tonumber(ENV_BENCH_USERS or "") or 20000

pidfile = run_dir .. "/prosody.pid"
data_path = run_dir .. "/data"
-- compare.sh puts a self-signed localhost.crt/.key here (for idle-tls)
certificates = run_dir
log = {
	-- info or debug logging costs a lot of CPU under load
	{ levels = { min = "warn" }, to = "file", filename = run_dir .. "/prosody.log" };
}

-- c2s on 127.0.0.1:25222, plaintext allowed: STARTTLS is offered (with the
-- run's self-signed certificate) but never required; only idle-tls uses it
c2s_ports = { 25222 }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = {}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

-- No server-to-server: the module is not loaded; its port would be local anyway
s2s_ports = { 25269 }
s2s_interfaces = { "127.0.0.1" }
-- No HTTP is loaded either (no bosh/websocket/http modules); just in case
http_ports = { 25280 }
http_interfaces = { "127.0.0.1" }
https_ports = {}
https_interfaces = { "127.0.0.1" }

authentication = "internal_hashed"
-- Same SCRAM cost as Whassap and ejabberd (4096); Prosody's default is 10000
default_iteration_count = 4096
storage = "internal"

-- Rate limits off: mod_limits is simply not loaded
limits = {}

modules_enabled = {
	"roster";
	"saslauth";
	"tls"; -- STARTTLS offered, not required (idle-tls)
	"disco";
	"presence"; -- loaded anyway
	"pep";
	"ping";
}
modules_disabled = {
	"s2s";
	"s2s_auth_certs";
	"dialback";
}

-- Nobody may register over XMPP; accounts are made by the script
allow_registration = false

VirtualHost "localhost"
	ssl = {
		certificate = run_dir .. "/localhost.crt";
		key = run_dir .. "/localhost.key";
	}

-- PubSub service. Prosody 0.12's mod_pubsub lets only admins of the service
-- create nodes (there is no "any local user" setting), so the bench accounts
-- are made admins of this component only (not of the VirtualHost).
Component "pubsub.localhost" "pubsub"
	admins = (function ()
		local list = {}
		for i = 0, bench_users - 1 do
			list[#list + 1] = "bench" .. i .. "@localhost"
		end
		return list
	end)()

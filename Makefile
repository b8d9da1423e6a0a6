# burstgate: per-identity token buckets at the NIC for AI-agent traffic.
#
#   make            build the XDP object, its skeleton and burstctl
#   make check      install dependencies, build, run every test suite
#   make demo       a 10 s demo on a namespace topology (root)
#   make deps       install build and test dependencies (Debian 12)
#   make bench      benchmarks vs nftables and iptables -> bench/REPORT.md (root,
#                   about 17 minutes, loads both cores); make bench-smoke: 1 min;
#                   make bench-fleet: the fleet section alone, 2 min;
#                   make bench-control: the control-plane section alone
#   make format / make lint / make clean
#
# Output goes to $(OUTPUT). V=1 shows full commands.

OUTPUT ?= .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
VERSION := 0.1.0

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)"
endif

# Debian packages: build, then test (root suites, VMs). `make deps` installs
# the missing ones; nothing else is needed on a fresh Debian 12.
DEPS_BUILD := make gcc clang llvm pkg-config libbpf-dev bpftool libelf-dev \
	zlib1g-dev libjansson-dev libcunit1-dev linux-libc-dev \
	libyaml-dev libmicrohttpd-dev libhiredis-dev libxdp-dev
# redis-server: the fleet tests start their own (docs/fleet.md)
DEPS_TEST := iproute2 util-linux procps python3 coreutils curl tmux redis-server \
	xdp-tools prometheus python3-yaml python3-kubernetes
# vmtest: QEMU, busybox as the guest's init, decompressors for the kernels
DEPS_VMTEST := qemu-system-x86 busybox-static xz-utils zstd
# make deb and its test (tests/pkg)
DEPS_PKG := debhelper dpkg-dev lintian
DEPS_LINT := clang-format clang-tidy cppcheck
DEPS := $(DEPS_BUILD) $(DEPS_TEST) $(DEPS_VMTEST) $(DEPS_PKG)
# Benchmarks only (`make bench-deps`): the peers burstgate is measured
# against, and the charts.
DEPS_BENCH := nftables iptables ethtool gnuplot-nox

BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -mcpu=v3 \
	-D__TARGET_ARCH_$(ARCH) -Iinclude $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
USER_CFLAGS := -g -O2 -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
	-DBG_VERSION='"$(VERSION)"' -Iinclude -Iuser -Iclient -I$(OUTPUT) \
	$(shell pkg-config --cflags libbpf jansson yaml-0.1 libmicrohttpd hiredis libxdp 2>/dev/null)
# libxdp: multi-program mode (burstgate beside other XDP programs on a NIC)
USER_LIBS := $(shell pkg-config --libs libxdp 2>/dev/null || echo -lxdp) \
	$(shell pkg-config --libs libbpf jansson 2>/dev/null || echo -lbpf -ljansson) \
	$(shell pkg-config --libs yaml-0.1 libmicrohttpd 2>/dev/null || echo -lyaml -lmicrohttpd) \
	$(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis) \
	-lelf -lz -lm
CFLAGS ?=
LDFLAGS ?=

BPF_OBJ := $(OUTPUT)/bg_xdp.bpf.o
SKEL := $(OUTPUT)/bg_xdp.skel.h
# Which build this is: `burstctl version`, `status`, burstgate_build_info.
# The commit comes from git (-dirty with local changes), or from the caller
# where there is no git (a source package): make BG_COMMIT=...
BG_COMMIT ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(if $(shell git status --porcelain --untracked-files=no 2>/dev/null | head -1),-dirty)
BUILD_H := $(OUTPUT)/bg_build.h
BPF_HDRS := $(wildcard bpf/*.h) $(wildcard include/*.h)

# The library: everything of the control plane but the CLI front end.
LIB_SRCS := user/bg_state.c user/bg_attach.c user/bg_identity.c \
	user/bg_prefix.c user/bg_units.c user/bg_log.c user/bg_out.c \
	user/bg_probe_veth.c user/bg_setup.c
# The controller (issue 4): policy, apply, tuner, metrics, events.
LIB_SRCS += user/bg_policy.c user/bg_apply.c user/bg_tuner.c user/bg_metrics.c \
	user/bg_events.c user/bg_audit.c
# Agent tokens (issue 3): registry, flow table, bind server.
LIB_SRCS += user/bg_time.c user/bg_token_reg.c user/bg_flow.c user/bg_bindsrv.c
# Fleet mode (issue 14): leases from Redis into the local buckets.
LIB_SRCS += user/bg_fleet.c user/bg_redis.c user/bg_fleet_sync.c
# Agent identity lifecycle (issue 15): scopes, the audit trail of tokens.
LIB_SRCS += user/bg_scope_reg.c
# Versions (issue 13).
LIB_SRCS += user/bg_version.c
CLI_SRCS := user/burstctl.c user/cmd_attach.c user/cmd_identity.c \
	user/cmd_prefix.c user/cmd_stats.c user/cmd_config.c
CLI_SRCS += user/cmd_policy.c user/cmd_serve.c user/cmd_top.c user/cmd_events.c
CLI_SRCS += user/cmd_token.c user/cmd_bind.c
CLI_SRCS += user/cmd_batch.c user/cmd_fleet.c
CLI_SRCS += user/cmd_version.c
# The controller (`burstctl serve`): cmd_serve.c wires up the rooms of serve/
# (user/serve/serve.h says which file holds what).
SERVE_SRCS := user/serve/loop.c user/serve/log.c user/serve/policy.c user/serve/files.c \
	user/serve/links.c user/serve/events.c user/serve/bind.c user/serve/tuner.c \
	user/serve/metrics.c user/serve/gc.c user/serve/fleet.c user/serve/upgrade.c
CLI_SRCS += $(SERVE_SRCS)
CLI_SRCS += user/cmd_audit.c
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(LIB_SRCS))
CLI_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(CLI_SRCS))
LIB := $(OUTPUT)/libburstgate.a
BURSTCTL := $(OUTPUT)/burstctl
# The bind client: what servers link to report connections (libc only).
CLIENT_LIB := $(OUTPUT)/libburstgate_client.a
EXAMPLES := $(OUTPUT)/examples/bind_server

UNIT_SRCS := $(wildcard tests/unit/*.c)
BPFTEST_SRCS := $(wildcard tests/bpf/*.c)
UNIT_TESTS := $(OUTPUT)/tests/unit_tests
BPF_TESTS := $(OUTPUT)/tests/bpf_tests
# burstctl with a fault hook at every map write (tests/tools/bg_fault.c):
# the crash tests kill it at each write in turn. Never installed.
BURSTCTL_FAULT := $(OUTPUT)/tests/burstctl-fault
FAULT_WRAP := -Wl,--wrap=bpf_map_update_elem,--wrap=bpf_map_delete_elem \
	-Wl,--wrap=bpf_map_update_batch,--wrap=bpf_map_delete_batch
TRAFFIC := $(OUTPUT)/bg-traffic
FLEET_SAMPLE := $(OUTPUT)/bg-fleet-sample
FLEET_BENCH := $(OUTPUT)/bg-fleet-bench
# A second XDP program, loaded through libxdp beside burstgate (test_multi)
PEER_OBJ := $(OUTPUT)/tests/peer_filter.bpf.o
# burstctl whose XDP program is compiled without loop unrolling: other
# instructions (another tag), the same behaviour. Tests of upgrades, and of
# status naming an attached program that is not this build's.
VARIANT := $(OUTPUT)/tests/burstctl-variant
VARIANT_DIR := $(OUTPUT)/variant
BENCH := $(OUTPUT)/bg-bench
BENCH_BPF_OBJ := $(OUTPUT)/bg_bench.bpf.o
BENCH_SKEL := $(OUTPUT)/bg_bench.skel.h

.PHONY: FORCE install-files uninstall deb all check demo deps format lint clean vmtest vmtest-fetch test-unit test-bpf test-net install \
	bench bench-smoke bench-deps bench-fleet bench-control

all: $(BURSTCTL) $(UNIT_TESTS) $(BPF_TESTS) $(BURSTCTL_FAULT) $(TRAFFIC) $(FLEET_SAMPLE) $(PEER_OBJ) $(VARIANT) $(CLIENT_LIB) $(EXAMPLES) $(BENCH) $(FLEET_BENCH)

$(OUTPUT) $(OUTPUT)/user $(OUTPUT)/tests $(OUTPUT)/client $(OUTPUT)/examples:
	$(Q)mkdir -p $@

$(BPF_OBJ): bpf/bg_xdp.bpf.c $(BPF_HDRS) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bg_xdp > $@.tmp && mv $@.tmp $@

# The fleet's lease script, run by Redis, as a C string.
FLEET_LUA_H := $(OUTPUT)/bg_fleet_lua.h
$(FLEET_LUA_H): user/bg_fleet.lua | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q){ echo 'static const char bg_fleet_lua[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $<; \
	  echo ';'; } > $@.tmp && mv $@.tmp $@

$(OUTPUT)/user/bg_fleet_sync.o: $(FLEET_LUA_H)

# Rewritten only when the commit changes, so a new commit rebuilds one file.
$(BUILD_H): FORCE | $(OUTPUT)
	$(Q)printf '#define BG_COMMIT "%s"\n' "$(or $(BG_COMMIT),unknown)" > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(OUTPUT)/user/bg_version.o: $(BUILD_H)

$(OUTPUT)/user/%.o: user/%.c $(SKEL) $(wildcard user/*.h user/serve/*.h client/*.h) $(BPF_HDRS) | $(OUTPUT)/user
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BURSTCTL): $(CLI_OBJS) $(LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -o $@

$(BURSTCTL_FAULT): tests/tools/bg_fault.c $(CLI_OBJS) $(LIB) | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) $(LDFLAGS) $(FAULT_WRAP) $^ $(USER_LIBS) -o $@

$(OUTPUT)/client/%.o: client/%.c client/bg_client.h | $(OUTPUT)/client
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) -c $< -o $@

$(CLIENT_LIB): $(OUTPUT)/client/bg_client.o
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/examples/%: examples/%.c $(CLIENT_LIB) | $(OUTPUT)/examples
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) $(LDFLAGS) $< $(CLIENT_LIB) -o $@

$(UNIT_TESTS): $(UNIT_SRCS) $(LIB) $(FLEET_LUA_H) $(wildcard tests/unit/*.h tests/lib/*.h user/*.h) | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/lib -DBG_SRCDIR='"$(CURDIR)"' $(CFLAGS) $(LDFLAGS) $(UNIT_SRCS) $(LIB) $(USER_LIBS) -lcunit -o $@

$(BPF_TESTS): $(BPFTEST_SRCS) $(LIB) $(CLIENT_LIB) $(wildcard tests/bpf/*.h tests/lib/*.h) | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/lib $(CFLAGS) $(LDFLAGS) $(BPFTEST_SRCS) $(LIB) $(CLIENT_LIB) $(USER_LIBS) -lcunit -lpthread -o $@

$(FLEET_SAMPLE): tests/tools/bg_fleet_sample.c $(LIB) | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(USER_LIBS) -o $@

$(PEER_OBJ): tests/net/peer_filter.bpf.c | $(OUTPUT)/tests
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(VARIANT_DIR)/bg_xdp.bpf.o: bpf/bg_xdp.bpf.c $(BPF_HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -fno-unroll-loops -c $< -o $@

$(VARIANT_DIR)/bg_xdp.skel.h: $(VARIANT_DIR)/bg_xdp.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bg_xdp > $@.tmp && mv $@.tmp $@

# Only bg_state.c includes the skeleton: its variant object comes first and
# keeps the library's own out of the link.
$(VARIANT_DIR)/bg_state.o: user/bg_state.c $(VARIANT_DIR)/bg_xdp.skel.h $(SKEL)
	$(call msg,CC,$@)
	$(Q)$(CC) -I$(VARIANT_DIR) $(USER_CFLAGS) $(CFLAGS) -c $< -o $@

$(VARIANT): $(VARIANT_DIR)/bg_state.o $(CLI_OBJS) $(LIB) | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(USER_LIBS) -o $@

$(TRAFFIC): tests/tools/bg_traffic.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) $(LDFLAGS) $< -o $@

# The benchmark's own XDP programs and driver (bench/), apart from burstgate.
$(BENCH_BPF_OBJ): bench/bg_bench.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BENCH_SKEL): $(BENCH_BPF_OBJ)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name bg_bench > $@.tmp && mv $@.tmp $@

$(BENCH): bench/bg_bench.c $(BENCH_SKEL) $(LIB) $(wildcard tests/lib/*.h) | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/lib $(CFLAGS) $(LDFLAGS) $< $(LIB) $(USER_LIBS) -lpthread -o $@

# Fleet mode against the naive schemes, on a real redis-server (bench/run fleet).
$(FLEET_BENCH): bench/bg_fleet_bench.c $(LIB) $(FLEET_LUA_H) | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(CFLAGS) $(LDFLAGS) $< $(LIB) $(USER_LIBS) -o $@

# Installs only what is missing; safe to run again.
deps:
	$(Q)missing=""; for p in $(DEPS) $(EXTRA_DEPS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q '^install ok installed$$' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all installed"; \
	else echo "deps: installing$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install packages" >&2; exit 1; fi; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Every suite; vmtest last (the same root suites on other kernels).
check: deps
	$(Q)$(MAKE) --no-print-directory all deb
	$(Q)tests/run-suites unit bpf net pkg
	$(Q)$(MAKE) --no-print-directory vmtest

test-unit: $(UNIT_TESTS)
	$(Q)tests/run-suites unit
test-bpf: $(BPF_TESTS) $(BURSTCTL) $(BURSTCTL_FAULT)
	$(Q)tests/run-suites bpf
test-net: $(BURSTCTL) $(BURSTCTL_FAULT) $(TRAFFIC) $(FLEET_SAMPLE) $(PEER_OBJ) $(VARIANT) $(EXAMPLES)
	$(Q)tests/run-suites net

# The guests run the binaries already built in $(OUTPUT); KERNEL=6.1 picks one.
# The packages are installed in the 6.12 guest as well (tests/pkg).
vmtest: all
	$(Q)vmtest/run $(if $(KERNEL),--kernel $(KERNEL))
	$(Q)if [ -z "$(KERNEL)" ] || [ "$(KERNEL)" = 6.12 ]; then \
		[ -n "$$(ls $(OUTPUT)/deb/burstgate_*.deb 2>/dev/null)" ] || $(MAKE) --no-print-directory deb; \
		vmtest/run --kernel 6.12 -- tests/run-suites pkg-kernel; fi

vmtest-fetch:
	$(Q)vmtest/run --fetch

# Benchmarks: they report, never pass or fail; not part of `make check`.
bench-deps:
	$(Q)$(MAKE) --no-print-directory deps DEPS="$(DEPS_BUILD) $(DEPS_TEST)" \
		EXTRA_DEPS="$(DEPS_BENCH)"

bench: bench-deps
	$(Q)$(MAKE) --no-print-directory $(BURSTCTL) $(BENCH) $(FLEET_BENCH)
	$(Q)bench/run full

# The fleet section alone (docs/fleet.md): bench/results/fleet.json, REPORT.md again.
bench-fleet: bench-deps
	$(Q)$(MAKE) --no-print-directory $(FLEET_BENCH)
	$(Q)bench/run fleet

# The control-plane section alone: bench/results/control.json, REPORT.md again.
bench-control: bench-deps
	$(Q)$(MAKE) --no-print-directory $(BURSTCTL)
	$(Q)bench/run control

bench-smoke: bench-deps
	$(Q)$(MAKE) --no-print-directory $(BURSTCTL) $(BENCH) $(FLEET_BENCH)
	$(Q)bench/run smoke

demo: deps
	$(Q)$(MAKE) --no-print-directory $(BURSTCTL) $(TRAFFIC)
	$(Q)scripts/demo.sh

FORMAT_SRCS := $(wildcard bpf/*.c bpf/*.h include/*.h user/*.c user/*.h user/serve/*.c user/serve/*.h \
	tests/unit/*.c tests/unit/*.h tests/bpf/*.c tests/bpf/*.h tests/tools/*.c \
	client/*.c client/*.h examples/*.c bench/*.c tests/net/*.bpf.c)

format:
	$(Q)clang-format -i $(FORMAT_SRCS)

# void * arithmetic is GNU C and the idiom of every XDP parser: not flagged.
lint: $(SKEL) $(BENCH_SKEL)
	$(call msg,FORMAT,check)
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)
	$(call msg,CPPCHECK,user tests)
	$(Q)cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr \
		--enable=warning,performance,portability \
		-Iinclude -Iuser -Iclient -Itests/lib -D__linux__ --include=scripts/cppcheck.h \
		--suppress=missingIncludeSystem \
		--suppress=arithOperationsOnVoidPointer \
		user tests/unit tests/bpf tests/tools client examples bench/bg_bench.c bench/bg_fleet_bench.c

# burstctl, its man page, the systemd unit, the docs and an example policy,
# and the bind client library for servers that report their agents'
# connections. `make uninstall` removes what `make install` put there; the
# Debian package (`make deb`) installs the same files under /usr.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/burstgate
UNITDIR ?= /etc/systemd/system
SYSCONFDIR ?= /etc
DOCS := README.md $(wildcard docs/*.md)
# Prometheus rules and scrape job, the Grafana dashboard (docs/monitoring.md)
EXAMPLE_FILES := deploy/prometheus/burstgate-rules.yml deploy/prometheus/prometheus.yml \
	deploy/grafana/burstgate-dashboard.json
INSTALLED := $(SBINDIR)/burstctl $(LIBDIR)/libburstgate_client.a \
	$(LIBDIR)/pkgconfig/burstgate-client.pc $(INCLUDEDIR)/burstgate/bg_client.h \
	$(MANDIR)/man8/burstctl.8 $(UNITDIR)/burstgate.service \
	$(addprefix $(DOCDIR)/,$(notdir $(DOCS))) $(DOCDIR)/examples/policy.yaml \
	$(addprefix $(DOCDIR)/examples/,$(notdir $(EXAMPLE_FILES)))

install: $(BURSTCTL) $(CLIENT_LIB)
	$(Q)$(MAKE) --no-print-directory install-files
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/burstgate/serve.env ] || \
		install -D -m 0644 packaging/serve.env $(DESTDIR)$(SYSCONFDIR)/burstgate/serve.env
	$(Q)echo "installed; the controller starts once $(SYSCONFDIR)/burstgate/policy.yaml exists (systemctl enable --now burstgate)"

# The files only (the Debian package takes serve.env as a conffile as it is).
install-files:
	install -D -m 0755 $(BURSTCTL) $(DESTDIR)$(SBINDIR)/burstctl
	install -D -m 0644 $(CLIENT_LIB) $(DESTDIR)$(LIBDIR)/libburstgate_client.a
	install -D -m 0644 client/bg_client.h $(DESTDIR)$(INCLUDEDIR)/burstgate/bg_client.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' packaging/burstgate-client.pc.in > $(OUTPUT)/burstgate-client.pc
	install -D -m 0644 $(OUTPUT)/burstgate-client.pc $(DESTDIR)$(LIBDIR)/pkgconfig/burstgate-client.pc
	install -D -m 0644 docs/burstctl.8 $(DESTDIR)$(MANDIR)/man8/burstctl.8
	sed 's|@SBINDIR@|$(SBINDIR)|' packaging/burstgate.service > $(OUTPUT)/burstgate.service
	install -D -m 0644 $(OUTPUT)/burstgate.service $(DESTDIR)$(UNITDIR)/burstgate.service
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 examples/policy.yaml $(EXAMPLE_FILES) $(DESTDIR)$(DOCDIR)/examples/
	[ -z "$(DESTDIR)" ] || install -D -m 0644 packaging/serve.env $(DESTDIR)$(SYSCONFDIR)/burstgate/serve.env

# Refused while burstgate still enforces from the default state: without
# burstctl nothing could detach it. /etc/burstgate (policy, tokens) stays.
uninstall:
	$(Q)if [ -z "$(DESTDIR)" ] && [ -d /sys/fs/bpf/burstgate ] && [ -z "$(KEEP_STATE)" ]; then \
		echo "uninstall: burstgate still has state at /sys/fs/bpf/burstgate (and may be attached): run \`burstctl teardown\` first, or make uninstall KEEP_STATE=1" >&2; \
		exit 1; fi
	$(Q)if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemctl disable --now burstgate.service 2>/dev/null || true; fi
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/burstgate $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null
	$(Q)[ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ] && systemctl daemon-reload || true
	$(Q)echo "uninstalled; $(SYSCONFDIR)/burstgate (policy, tokens, serve.env) is left in place"

# The Debian packages (burstgate, burstgate-dev; debian/) into $(OUTPUT)/deb.
deb:
	$(Q)mkdir -p $(OUTPUT)/deb
	$(Q)dpkg-buildpackage -b -us -uc -jauto \
		--buildinfo-option=-u$(OUTPUT)/deb --buildinfo-file=$(OUTPUT)/deb/burstgate.buildinfo \
		--changes-option=-u$(OUTPUT)/deb --changes-file=$(OUTPUT)/deb/burstgate.changes
	$(Q)ls $(OUTPUT)/deb/*.deb

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

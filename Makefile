# SPDX-License-Identifier: Apache-2.0
# mod_wx_valid: build with apxs, test with Apache::Test.
#
#   make            build .libs/mod_wx_valid.so with the distribution's flags
#   make install    install it through apxs -i, with its configuration as
#                   the httpd's layout expects (honours DESTDIR)
#   make test       deps, strict build, unit tests, Apache::Test under each
#                   MPM, then the Debian package test (make package-test)
#   make run        deps, build, a local Apache on 127.0.0.1:8080 in the
#                   foreground, with a demo token and a signed curl to try
#   make bench      the module against a no-check baseline (wrk, callgrind)
#   make memcheck   the Apache::Test suite with apache2 -X under valgrind
#   make soak       60 s of mixed load across graceful restarts
#   make fuzz       libFuzzer harnesses of the core (FUZZ_SECONDS, 60 each)
#   make deb        the Debian package libapache2-mod-wx-valid, built by
#                   dpkg-buildpackage in a clean copy of the tree (build/deb/)
#   make clean      (make distclean: also the httpd tools/httpd-build built)
#
# Every target takes APXS=/path/to/apxs for an httpd other than Debian's
# (a source build, the Docker httpd image's); see HACKING.md "Any httpd".

APXS    ?= $(shell command -v apxs 2>/dev/null || command -v apxs2 2>/dev/null || echo apxs)
APR_CONFIG = $(shell $(APXS) -q APR_CONFIG 2>/dev/null || echo apr-1-config)
APU_CONFIG = $(shell $(APXS) -q APU_CONFIG 2>/dev/null || echo apu-1-config)

# MPMs the Apache::Test suite runs under; `make test MPMS=event` for one.
MPMS    ?= event worker prefork

# STRICT=1 (set by `make test` and CI) adds warnings-as-errors; a plain
# `make` keeps exactly the flags apxs got from the distribution.
WARN    = -Wall -Wextra -Werror
comma  := ,
APXS_FLAGS = $(if $(STRICT),$(addprefix -Wc$(comma),$(WARN)))
# Extra compiler and linker flags for apxs, e.g. the Debian package's
# hardening flags from dpkg-buildflags (debian/rules).
WX_CFLAGS  ?=
WX_LDFLAGS ?=
APXS_FLAGS += $(addprefix -Wc$(comma),$(WX_CFLAGS)) \
	$(addprefix -Wl$(comma),$(WX_LDFLAGS))

SRC     = mod_wx_valid.c wxv_filters.c wxv_store.c wxv_pay.c wx_protocol.c \
	wx_crypto.c wx_pay.c
HDR     = mod_wx_valid.h wx_protocol.h wx_crypto.h wx_pay.h
CORE    = wx_protocol.c wx_crypto.c wx_pay.c
MODULE  = .libs/mod_wx_valid.so
UNIT    = build/wx_protocol_test build/wx_crypto_test build/wx_pay_test
# The core's compile and link lines outside apxs (unit tests, benches).
CORE_CFLAGS = -I. $(shell $(APR_CONFIG) --cflags --cppflags --includes) \
	$(shell $(APU_CONFIG) --includes)
CORE_LIBS   = $(shell $(APR_CONFIG) --link-ld --libs) \
	$(shell $(APU_CONFIG) --link-ld --libs) -ljansson -lexpat -lcrypto

.PHONY: all install test unit unit-core apache-test package-test run bench memcheck soak fuzz deb deps clean distclean FORCE

all: $(MODULE)

# Rebuild when the flags or the httpd change, so `make test` never tests a
# lax build, nor objects compiled against another server's headers.
build/flags: FORCE
	@mkdir -p build
	@echo '$(APXS) $(APXS_FLAGS)' | cmp -s - $@ \
		|| echo '$(APXS) $(APXS_FLAGS)' > $@

# The version, in one place: VERSION.  The module reports it as
# mod_wx_valid/X.Y.Z in the server signature.
VERSION := $(shell cat VERSION)

build/wx_version.h: VERSION
	@mkdir -p build
	printf '#define WXV_VERSION "%s"\n' '$(VERSION)' > $@

$(MODULE): $(SRC) $(HDR) build/flags build/wx_version.h
	$(APXS) -c $(APXS_FLAGS) -Ibuild -o mod_wx_valid.la $(SRC) -ljansson -lexpat \
		-lhiredis -lcrypto

# The module through apxs -i, and its configuration as the layout of the
# httpd APXS names expects (Debian's mods-available/, a source build's
# conf/extra/), under DESTDIR; it prints the LoadModule lines the features
# need (tools/install).
install: $(MODULE)
	APXS='$(APXS)' DESTDIR='$(DESTDIR)' tools/install

build/%_test: t/unit/%_test.c t/unit/tap.h $(CORE) $(HDR)
	@mkdir -p build
	$(CC) $(WARN) -g -O1 $(CORE_CFLAGS) -o $@ $< $(CORE) $(CORE_LIBS)

# Debian's Apache only when APXS is Debian's (tools/deps, tools/debian-apxs).
deps:
	@APXS=$(APXS) tools/deps

# The envelope parser's instruction counts under callgrind, 1 to 256 KiB of
# hostile XML and JSON: linear, or the test fails (t/unit/xml_cost.pl).
build/wx_xml_cost: t/unit/wx_xml_cost.c $(CORE) $(HDR)
	@mkdir -p build
	$(CC) $(WARN) -g -O1 $(CORE_CFLAGS) -o $@ $< $(CORE) $(CORE_LIBS)

unit: unit-core build/wx_xml_cost
	prove t/unit/xml_cost.pl :: build/wx_xml_cost

# The core's C unit tests alone (the package build runs these).
unit-core: $(UNIT)
	prove --exec '' $(UNIT)

apache-test: all
	APXS=$(APXS) MPMS="$(MPMS)" tools/apache-test

# The Debian package, built, linted, installed into a throwaway root,
# served from, purged (t/package/deb.pl).  It skips itself without
# dpkg-dev, debhelper and lintian, or installs nothing without root, unless
# WX_PACKAGE_TEST=required (CI).
package-test:
	prove t/package/deb.pl

# The package test needs Debian's Apache: with another httpd's APXS it is
# skipped, and make test says so.
test: deps
	$(MAKE) STRICT=1 all $(UNIT) build/wx_xml_cost
	$(MAKE) STRICT=1 unit
	$(MAKE) STRICT=1 apache-test
	@if other=$$(tools/debian-apxs '$(APXS)'); then $(MAKE) package-test; \
	else echo "make test: the Debian package test skipped: APXS=$$other" \
		"is not Debian's apxs (make deb builds against apache2-dev only)"; fi

run: deps all
	APXS=$(APXS) tools/run

BENCH_MODULE = bench/.libs/mod_wx_bench.so
$(BENCH_MODULE): bench/mod_wx_bench.c
	$(APXS) -c -o bench/mod_wx_bench.la bench/mod_wx_bench.c

# The core alone, optimised as apxs builds the module.
build/core_bench: bench/core_bench.c $(CORE) $(HDR)
	@mkdir -p build
	$(CC) $(WARN) -g -O2 $(CORE_CFLAGS) -o $@ bench/core_bench.c $(CORE) \
		$(CORE_LIBS)

bench: deps all $(BENCH_MODULE) build/core_bench
	APXS=$(APXS) tools/bench

# One MPM: under valgrind, the server is a single process anyway.
memcheck: deps
	$(MAKE) STRICT=1 all
	WX_VALGRIND=1 APXS=$(APXS) MPMS=event tools/apache-test

fuzz: deps
	APXS=$(APXS) tools/fuzz

# The package, from a clean copy of the tree; version from VERSION, which
# debian/changelog must match.
deb:
	APXS=$(APXS) tools/deb

soak: deps all $(BENCH_MODULE)
	APXS=$(APXS) tools/soak

# make clean keeps what tools/httpd-build and tools/deps fetched and built
# (build/httpd/, build/deps/), which a developer pays for once; make
# distclean removes them too.
clean:
	rm -rf .libs $(filter-out build/httpd build/deps,$(wildcard build/*)) \
		*.la *.lo *.slo *.o bench/.libs bench/*.la bench/*.lo bench/*.slo
	if [ -f t/conf/apache_test_config.pm ]; then \
		perl t/TEST.PL -clean >/dev/null 2>&1 || true; fi
	rm -rf t/logs t/conf/apache_test_config.pm t/conf/extra.conf \
		t/conf/httpd.conf t/conf/modperl_* t/htdocs/index.html

distclean: clean
	rm -rf build

FORCE:

# libjournal - named append-only journals on LMDB.
#
#   make            build the library and the tools into build/
#   make demo       install missing dependencies, build, run the demo
#   make test       install missing dependencies, build, run the test suite
#   make test SANITIZE=address,undefined   the suite under sanitizers
#   make valgrind   the suite under valgrind
#   make bench      the benchmark (long)
#   make install    PREFIX=/usr/local DESTDIR=
#
# Every output goes to build/ (build/sanitize/ with SANITIZE), so clean is
# rm -rf build.

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SANITIZE ?=
PKG_CONFIG ?= pkg-config

VERSION_MAJOR := $(shell sed -n 's/^\#define JOURNAL_VERSION_MAJOR \([0-9]*\)/\1/p' include/journal.h)
VERSION_MINOR := $(shell sed -n 's/^\#define JOURNAL_VERSION_MINOR \([0-9]*\)/\1/p' include/journal.h)
VERSION_PATCH := $(shell sed -n 's/^\#define JOURNAL_VERSION_PATCH \([0-9]*\)/\1/p' include/journal.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME := libjournal.so.$(VERSION_MAJOR)

ifeq ($(SANITIZE),)
B := build
SANFLAGS :=
SAN_ENV :=
else
B := build/sanitize
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
endif

# Flags the library needs, kept apart from CFLAGS so a user's CFLAGS cannot
# drop them. pkg-config runs when a recipe needs it (these are recursive
# variables), after the dependency step has installed what was missing.
REQ_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -Iinclude $(PG_CFLAGS) $(SANFLAGS)
LMDB_CFLAGS = $(shell $(PKG_CONFIG) --cflags lmdb)
LMDB_LIBS = $(shell $(PKG_CONFIG) --libs lmdb)
PG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libpq)
PG_LIBS = $(shell $(PKG_CONFIG) --libs libpq)
CRITERION_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion)
CRITERION_LIBS = $(shell $(PKG_CONFIG) --libs criterion)
LIBS = $(LMDB_LIBS) $(PG_LIBS) -pthread

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
LIB_PIC := $(LIB_SRC:lib/%.c=$(B)/lib/%.pic.o)
LIB_HDR := include/journal.h $(wildcard lib/*.h)

# Every tools/NAME.c is a program build/bin/NAME; journal-bench also links
# SQLite (its comparison) and LMDB directly (its floor).
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOLS := $(filter-out $(B)/bin/journal-bench,$(TOOL_SRC:tools/%.c=$(B)/bin/%))
BENCH := $(B)/bin/journal-bench
# What make install installs: the tools, not the demo.
INSTALL_TOOLS := $(filter-out $(B)/bin/journal-demo,$(TOOLS))
INSTALL_MAN := $(filter-out tools/journal-bench.1,$(wildcard tools/*.1))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)

# tests/test_*.c form one Criterion binary; tests/util.c and tests/util.h
# are shared helpers.
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_OBJ := $(TEST_SRC:tests/%.c=$(B)/tests/%.o) $(B)/tests/util.o
TEST_BIN := $(B)/tests/journal-tests

DEPS_STAMP := $(B)/.deps-build

.PHONY: all lib tools examples demo test check valgrind bench install uninstall clean deps deps-test deps-bench format

all: lib tools

lib: $(B)/libjournal.a $(B)/libjournal.so

tools: $(TOOLS)

examples: $(EXAMPLES)

# The dependency step: tools/deps.sh installs what pkg-config cannot find.
$(DEPS_STAMP): tools/deps.sh
	@mkdir -p $(@D)
	@tools/deps.sh build
	@touch $@

deps: $(DEPS_STAMP)

deps-test:
	@tools/deps.sh build test

$(B)/lib/%.o: lib/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -fvisibility=hidden $(LMDB_CFLAGS) -c -o $@ $<

$(B)/lib/%.pic.o: lib/%.c $(LIB_HDR) | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -fPIC -fvisibility=hidden $(LMDB_CFLAGS) -c -o $@ $<

$(B)/libjournal.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/libjournal.so.$(VERSION): $(LIB_PIC)
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LIBS)

$(B)/libjournal.so: $(B)/libjournal.so.$(VERSION)
	ln -sf libjournal.so.$(VERSION) $(B)/$(SONAME)
	ln -sf libjournal.so.$(VERSION) $@

$(B)/bin/%: tools/%.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(TOOL_CFLAGS) -o $@ $< $(B)/libjournal.a $(TOOL_LIBS) $(LDFLAGS) $(LIBS)

$(B)/bin/journal-bench: TOOL_CFLAGS = $(LMDB_CFLAGS) $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
$(B)/bin/journal-bench: TOOL_LIBS = $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null) -lm

$(B)/examples/%: examples/%.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS)

# ---------------------------------------------------------------- demo

demo: $(B)/bin/journal-demo
	$(B)/bin/journal-demo ./demo-store

# ---------------------------------------------------------------- tests

$(B)/tests/%.o: tests/%.c tests/util.h include/journal.h | deps-test
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(CRITERION_CFLAGS) -c -o $@ $<

$(TEST_BIN): $(TEST_OBJ) $(B)/libjournal.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libjournal.a $(CRITERION_LIBS) $(LIBS)

# The tests find the programs and helpers they run through these variables.
TEST_ENV = $(SAN_ENV) JOURNAL_TEST_BIN=$(CURDIR)/$(B)/bin JOURNAL_TEST_EXAMPLES=$(CURDIR)/$(B)/examples \
	JOURNAL_TEST_SRC=$(CURDIR) JOURNAL_TEST_BUILD=$(CURDIR)/$(B)
CRITERION_JOBS ?= 2

test: deps-test lib tools examples $(BENCH) $(TEST_BIN)
	$(TEST_ENV) $(TEST_BIN) --jobs=$(CRITERION_JOBS)
	$(TEST_ENV) tools/pg-server.sh run $(CURDIR)/$(B)/pg -- $(TEST_BIN) --jobs=$(CRITERION_JOBS)

check: test

valgrind: deps-test lib tools examples $(BENCH) $(TEST_BIN)
	$(TEST_ENV) JOURNAL_TEST_VALGRIND=1 valgrind --quiet --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no \
		--trace-children-skip='*/python3*,*/sh,*/bash' \
		$(TEST_BIN) --jobs=1

# ---------------------------------------------------------------- bench

deps-bench:
	@tools/deps.sh build bench

$(BENCH): | deps-bench

bench: $(BENCH)
	$(B)/bin/journal-bench --csv $(B)/bench.csv --plot $(B)/bench.png

# ---------------------------------------------------------------- install

# journal.pc is written at install time, so that it always names the
# PREFIX of this install.
install: lib tools
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 include/journal.h $(DESTDIR)$(INCLUDEDIR)/journal.h
	install -m 0644 $(B)/libjournal.a $(DESTDIR)$(LIBDIR)/libjournal.a
	install -m 0755 $(B)/libjournal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libjournal.so.$(VERSION)
	ln -sf libjournal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libjournal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libjournal.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' journal.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/journal.pc
	for t in $(INSTALL_TOOLS); do install -m 0755 $$t $(DESTDIR)$(BINDIR)/; done
	for m in $(INSTALL_MAN); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/journal.h $(DESTDIR)$(LIBDIR)/libjournal.a \
		$(DESTDIR)$(LIBDIR)/libjournal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libjournal.so $(DESTDIR)$(PKGCONFIGDIR)/journal.pc
	for t in $(notdir $(INSTALL_TOOLS)); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	for m in $(notdir $(INSTALL_MAN)); do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done

format:
	clang-format -i include/*.h lib/*.[ch] tests/*.[ch] tools/*.c $(wildcard examples/*.c)

clean:
	rm -rf build

# ---------------------------------------------------------------- faults and fuzzing
# (tests/faultshim.c, tests/fault_driver.c, tests/fuzz/; see tests/test_faults.c)
#
#   make fault-all                 the fault tests with every N, not a sample
#   make fuzz                      build the libFuzzer target with clang
#   make fuzz-run FUZZ_SECONDS=60  run it on a copy of tests/fuzz/corpus

FAULT_SHIM := $(B)/tests/faultshim.so
FAULT_DRIVER := $(B)/tests/fault_driver
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -Iinclude \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fault-all fuzz fuzz-run

# The shim is never sanitized: it sits in front of the sanitizer runtime.
$(FAULT_SHIM): tests/faultshim.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -shared -o $@ $< -ldl -pthread

$(FAULT_DRIVER): tests/fault_driver.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS)

# The test binary runs both (tests/test_faults.c).
test valgrind: $(FAULT_SHIM) $(FAULT_DRIVER)

fault-all: deps-test $(TEST_BIN) $(FAULT_SHIM) $(FAULT_DRIVER)
	$(TEST_ENV) JOURNAL_TEST_FAULT_ALL=1 $(TEST_BIN) --filter 'faults/*' --jobs=$(CRITERION_JOBS)

fuzz: $(B)/fuzz/fuzz_ops

$(B)/fuzz/fuzz_ops: tests/fuzz/fuzz_ops.c $(LIB_SRC) $(LIB_HDR) | $(DEPS_STAMP)
	@tools/deps.sh fuzz
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(LMDB_CFLAGS) $(PG_CFLAGS) -o $@ tests/fuzz/fuzz_ops.c $(LIB_SRC) $(LIBS)

fuzz-run: fuzz
	rm -rf $(B)/fuzz/corpus
	mkdir -p $(B)/fuzz/corpus
	cp tests/fuzz/corpus/* $(B)/fuzz/corpus/
	$(B)/fuzz/fuzz_ops -max_total_time=$(FUZZ_SECONDS) -timeout=30 -max_len=1024 \
		-artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus

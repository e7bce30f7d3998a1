# libjournal - named append-only journals on LMDB (and PostgreSQL).
#
#   make            build the library and the tools into build/; installs no
#                   package: a missing dependency stops it with a message
#   make deps       install the missing Debian packages that make needs
#   make demo       install missing dependencies, build, run the demo
#   make test       install missing dependencies, build, run the test suite
#   make test SANITIZE=address,undefined   the suite under sanitizers
#   make valgrind   the suite under valgrind
#   make bench      the benchmark (long)
#   make install    PREFIX=/usr/local DESTDIR=
#   make PG=0 ...   build without the PostgreSQL backend (the default is to
#                   build it when pkg-config finds libpq)
#   make test-wait WAIT=poll   journal_wait()'s tests on its portable fallback
#
# Only deps, demo, test, test-wait, check, valgrind, bench, fuzz, fuzz-run and
# fault-all run tools/deps.sh, which installs what is missing and says what. They do
# so first, then run the rest in a second make, which finds what was
# installed.
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
# How journal_wait() learns of commits (lib/wait.h): inotify on Linux, poll
# elsewhere; WAIT=poll builds the portable fallback on Linux too.
WAIT_DEFAULT := $(if $(filter Linux,$(shell uname -s)),inotify,poll)
WAIT ?= $(WAIT_DEFAULT)

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
ifneq ($(WAIT),$(WAIT_DEFAULT))
B := $(B)/wait-$(WAIT)
endif

# ---------------------------------------------------------------- dependencies

# The goals that install what they miss, and those that need nothing built.
DEPS_GOALS := deps demo test test-wait check valgrind bench fuzz fuzz-run fault-all
NOBUILD_GOALS := $(DEPS_GOALS) clean format uninstall
GOALS := $(or $(MAKECMDGOALS),all)

# The PostgreSQL backend is built when libpq's headers are found (PG=1), or
# not (PG=0). Without it, a postgresql:// open fails with -EPROTONOSUPPORT
# (lib/pg/none.c). With it, libjournal does not link libpq either: it loads
# libpq.so.5 at the first postgresql:// open (lib/pg/pq_load.h).
PG_ASKED := $(if $(filter undefined,$(origin PG)),,$(PG))
ifeq ($(origin PG),undefined)
PG := $(if $(shell $(PKG_CONFIG) --exists libpq 2>/dev/null && echo y),1,0)
PG_WHY := pkg-config found no libpq; make deps installs libpq-dev
else
PG_WHY := PG=$(PG) was given
endif
ifneq ($(PG),0)
override PG := 1
endif

# What tools/deps.sh installs for each goal: PostgreSQL unless PG=0 was
# asked for (on a fresh machine, PG is 0 here only because libpq is missing).
DEPS_PQ := $(if $(filter 0,$(PG_ASKED)),,libpq)
DEPS_SETS_deps := build $(DEPS_PQ)
DEPS_SETS_demo := build
DEPS_SETS_test := build $(DEPS_PQ) test $(if $(filter 0,$(PG_ASKED)),,pg bench)
DEPS_SETS_check := $(DEPS_SETS_test)
DEPS_SETS_test-wait := build test
DEPS_SETS_valgrind := $(DEPS_SETS_test)
DEPS_SETS_fault-all := $(DEPS_SETS_test)
DEPS_SETS_bench := build $(DEPS_PQ) bench
DEPS_SETS_fuzz := build $(DEPS_PQ) fuzz
DEPS_SETS_fuzz-run := $(DEPS_SETS_fuzz)

# pkg-config's answers, read when a recipe needs them (recursive variables),
# so that the second make of a DEPS_GOALS goal sees what the first installed.
LMDB_CFLAGS = $(shell $(PKG_CONFIG) --cflags lmdb)
LMDB_LIBS = $(shell $(PKG_CONFIG) --libs lmdb)
PG_CFLAGS = $(shell $(PKG_CONFIG) --cflags libpq)
CRITERION_CFLAGS = $(call need,criterion,libcriterion-dev,test)$(shell $(PKG_CONFIG) --cflags criterion)
CRITERION_LIBS = $(shell $(PKG_CONFIG) --libs criterion)

# $(call need,MODULE,PACKAGE,GOAL): stops make with a message when
# pkg-config does not find MODULE: `make GOAL` installs PACKAGE.
need = $(if $(shell $(PKG_CONFIG) --exists $(1) 2>/dev/null && echo y),,$(error libjournal: $(1) not found by \
	$(PKG_CONFIG): 'make $(3)' installs it (Debian package $(2)), or install it yourself))

# A plain make (and install) needs LMDB, found through pkg-config.
ifneq ($(filter-out $(NOBUILD_GOALS),$(GOALS)),)
ifeq ($(shell command -v $(PKG_CONFIG) 2>/dev/null),)
$(error libjournal: $(PKG_CONFIG) not found: 'make deps' installs it (Debian package pkg-config), or install it yourself)
endif
$(call need,lmdb,liblmdb-dev,deps)
endif

# dlopen() is in the C library since glibc 2.34; before, in libdl.
HASH := \#
ifeq ($(PG),1)
DL_LIBS := $(shell printf '%s\n' '$(HASH)include <dlfcn.h>' 'int main(void) { return dlopen("x", RTLD_NOW) != 0; }' | \
	$(CC) -x c -o /dev/null - 2>/dev/null || echo -ldl)
else
DL_LIBS :=
endif

# Flags the library needs, kept apart from CFLAGS so a user's CFLAGS cannot
# drop them. The code is C11 and POSIX.1-2008 with XSI; a file of lib/,
# tools/ or examples/ that needs more (asprintf()) defines _GNU_SOURCE
# itself. The tests are Linux programs (ptys, ppoll(), setgroups(),
# asprintf() throughout): TEST_CFLAGS gives them _GNU_SOURCE.
REQ_CFLAGS = -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Wshadow -pthread -Iinclude $(SANFLAGS)
LIBS = $(LMDB_LIBS) -pthread $(DL_LIBS)

# lib/pg/ is the PostgreSQL backend (pq_load.c loads libpq for it), except
# lib/pg/none.c, the backend of a PG=0 build, which replaces all of it.
# Only the objects of lib/pg/ get libpq's include path (PQ_CFLAGS).
PG_LIB_SRC := $(filter-out lib/pg/none.c,$(sort $(wildcard lib/pg/*.c)))
# One lib/wait_*.c: the platform's notifier of journal_wait().
LIB_ALL := $(filter-out lib/wait_%.c,$(sort $(wildcard lib/*.c lib/lmdb/*.c))) lib/wait_$(WAIT).c
ifeq ($(PG),1)
LIB_SRC := $(LIB_ALL) $(PG_LIB_SRC)
else
LIB_SRC := $(LIB_ALL) lib/pg/none.c
endif
LIB_OBJ := $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
LIB_PIC := $(LIB_SRC:lib/%.c=$(B)/lib/%.pic.o)
LIB_HDR := include/journal.h $(wildcard lib/*.h lib/*/*.h)

# Every tools/NAME.c is a program build/bin/NAME. journal-bench is the files
# of tools/bench/; it also uses SQLite (its comparison), LMDB directly (its
# floor) and libpq (its pgraw, through lib/pg/pq_load.h), so a PG=0 build has
# no journal-bench.
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOLS := $(TOOL_SRC:tools/%.c=$(B)/bin/%)
BENCH_SRC := $(sort $(wildcard tools/bench/*.c))
BENCH_HDR := $(wildcard tools/bench/*.h) lib/pg/pq_load.h lib/lmdb/format.h lib/byteorder.h
BENCH := $(if $(filter 1,$(PG)),$(B)/bin/journal-bench)
# What make install installs: the tools, not the demo.
INSTALL_TOOLS := $(filter-out $(B)/bin/journal-demo,$(TOOLS))
INSTALL_MAN := $(filter-out tools/journal-bench.1,$(wildcard tools/*.1))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)

# tests/test_*.c form one Criterion binary; tests/util.c and tests/util.h
# are shared helpers. test_pg.c and test_bench.c use libpq (test_bench.c
# runs journal-bench): a PG=0 build leaves them out.
TEST_PQ_SRC := tests/test_pg.c tests/test_bench.c
TEST_SRC := $(sort $(wildcard tests/test_*.c))
ifeq ($(PG),0)
TEST_SRC := $(filter-out $(TEST_PQ_SRC),$(TEST_SRC))
endif
TEST_OBJ := $(TEST_SRC:tests/%.c=$(B)/tests/%.o) $(B)/tests/util.o $(B)/tests/journal-dump-main.o
TEST_BIN := $(B)/tests/journal-tests

.PHONY: all lib tools examples demo test test-wait check valgrind bench install uninstall clean deps format fault-all fuzz \
	fuzz-run

all: lib tools

lib: $(B)/libjournal.a $(B)/libjournal.so

tools: $(TOOLS)

examples: $(EXAMPLES)

# A DEPS_GOALS goal, at the top: tools/deps.sh, then the same goal in a
# second make, which reads this file again and so finds what was installed
# (the command line's SANITIZE, PG, -j... pass on through MAKEFLAGS).
ifndef JOURNAL_DEPS_DONE
ifneq ($(filter $(DEPS_GOALS),$(MAKECMDGOALS)),)
# Other goals given with them are made one at a time, so that none races
# the second make (which still runs its own jobs in parallel).
.NOTPARALLEL:
endif
$(DEPS_GOALS):
	@tools/deps.sh $(sort $(DEPS_SETS_$@))
	@$(MAKE) --no-print-directory JOURNAL_DEPS_DONE=1 $@
else
deps:
	@echo "libjournal: the dependencies of the build are installed"
endif

$(B)/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -fvisibility=hidden $(LMDB_CFLAGS) $(PQ_CFLAGS) -c -o $@ $<

$(B)/lib/%.pic.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -fPIC -fvisibility=hidden $(LMDB_CFLAGS) $(PQ_CFLAGS) -c -o $@ $<

$(PG_LIB_SRC:lib/%.c=$(B)/lib/%.o) $(PG_LIB_SRC:lib/%.c=$(B)/lib/%.pic.o): PQ_CFLAGS = $(PG_CFLAGS)

# What the build is, saying so when it has no PostgreSQL backend.
$(B)/.config: FORCE
	@mkdir -p $(@D)
	@echo "PG=$(PG)" > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
	@[ "$(PG)" = 1 ] || echo "libjournal: building without the PostgreSQL backend ($(PG_WHY)):" \
		"postgresql:// stores fail with -EPROTONOSUPPORT"

.PHONY: FORCE
FORCE:

$(B)/libjournal.a: $(LIB_OBJ) $(B)/.config
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

# --no-undefined: every symbol resolves here, so a libpq function called
# without going through lib/pg/pq_load.h is a build error, not a NEEDED libpq.
$(B)/libjournal.so.$(VERSION): $(LIB_PIC) $(B)/.config
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $(LIB_PIC) $(LIBS)

$(B)/libjournal.so: $(B)/libjournal.so.$(VERSION)
	ln -sf libjournal.so.$(VERSION) $(B)/$(SONAME)
	ln -sf libjournal.so.$(VERSION) $@

$(B)/bin/%: tools/%.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS)

$(B)/bin/journal-bench: $(BENCH_SRC) $(BENCH_HDR) $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(call need,sqlite3,libsqlite3-dev,bench)$(LMDB_CFLAGS) \
		$(PG_CFLAGS) $(shell $(PKG_CONFIG) --cflags sqlite3) -o $@ $(BENCH_SRC) $(B)/libjournal.a \
		$(shell $(PKG_CONFIG) --libs sqlite3) -lm $(LDFLAGS) $(LIBS)

$(B)/examples/%: examples/%.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS)

# ---------------------------------------------------------------- tests

TEST_CFLAGS = -D_GNU_SOURCE -DJOURNAL_TEST_PG=$(PG)

# Test objects including lib/pg/pq_load.h get libpq's include path.
$(B)/tests/%.o: tests/%.c tests/util.h include/journal.h $(B)/.config
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(TEST_CFLAGS) $(CRITERION_CFLAGS) $(PQ_CFLAGS) -c -o $@ $<

$(TEST_PQ_SRC:tests/%.c=$(B)/tests/%.o): PQ_CFLAGS = $(PG_CFLAGS)
$(TEST_PQ_SRC:tests/%.c=$(B)/tests/%.o): lib/pg/pq_load.h

# tests/test_damaged.c runs journal-dump's main in forked children, a
# thousand times, without paying for an exec each time.
$(B)/tests/journal-dump-main.o: tools/journal-dump.c include/journal.h $(B)/.config
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) -Dmain=journal_dump_main -c -o $@ $<

$(TEST_BIN): $(TEST_OBJ) $(B)/libjournal.a
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $(TEST_OBJ) $(B)/libjournal.a $(CRITERION_LIBS) $(LIBS)

# The tests find the programs and helpers they run through these variables.
TEST_ENV = $(SAN_ENV) JOURNAL_TEST_BIN=$(CURDIR)/$(B)/bin JOURNAL_TEST_EXAMPLES=$(CURDIR)/$(B)/examples \
	JOURNAL_TEST_SRC=$(CURDIR) JOURNAL_TEST_BUILD=$(CURDIR)/$(B)
CRITERION_JOBS ?= 2

FAULT_SHIM := $(B)/tests/faultshim.so
FAULT_DRIVER := $(B)/tests/fault_driver
CRASHIMG_SHIM := $(B)/tests/crashimg_shim.so
CRASHIMG_DRIVER := $(B)/tests/crashimg_driver
TEST_DEPS := lib tools examples $(BENCH) $(TEST_BIN) $(FAULT_SHIM) $(FAULT_DRIVER) $(CRASHIMG_SHIM) $(CRASHIMG_DRIVER)

# The second pass, against PostgreSQL, needs the backend.
ifeq ($(PG),1)
TEST_PG_PASS = $(TEST_ENV) tools/pg-server.sh run $(CURDIR)/$(B)/pg -- $(TEST_BIN) --jobs=$(CRITERION_JOBS)
else
TEST_PG_PASS = @echo "libjournal: no PostgreSQL pass: built without the PostgreSQL backend ($(PG_WHY))"
endif

ifdef JOURNAL_DEPS_DONE
demo: $(B)/bin/journal-demo
	$(B)/bin/journal-demo ./demo-store

test: $(TEST_DEPS)
	$(TEST_ENV) $(TEST_BIN) --jobs=$(CRITERION_JOBS)
	$(TEST_PG_PASS)

check: test

# journal_wait()'s tests (suite wait, and the contract's three in suite
# journal) and journal-dump --follow's alone, on LMDB: with WAIT=poll, the
# portable fallback (build/wait-poll/).
TEST_WAIT_FILTER := @(wait/*|journal/@(returns_0_at_once_when_a_record_is_there|times_out_when_nothing_comes|wakes_when_another_thread_appends)|tools/follow*)
test-wait: lib tools $(TEST_BIN)
	$(TEST_ENV) $(TEST_BIN) --filter '$(TEST_WAIT_FILTER)' --jobs=$(CRITERION_JOBS)

valgrind: $(TEST_DEPS)
	$(TEST_ENV) JOURNAL_TEST_VALGRIND=1 valgrind --quiet --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite --trace-children=yes --child-silent-after-fork=no \
		--trace-children-skip='*/python3*,*/sh,*/bash' \
		$(TEST_BIN) --jobs=1

ifeq ($(PG),1)
bench: $(B)/bin/journal-bench
	$(B)/bin/journal-bench --csv $(B)/bench.csv --plot $(B)/bench.png
else
bench:
	@echo "libjournal: make bench needs the PostgreSQL backend ($(PG_WHY))" >&2; exit 1
endif
endif

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
		-e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|-pthread$(if $(DL_LIBS), $(DL_LIBS))|' journal.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/journal.pc
	for t in $(INSTALL_TOOLS); do install -m 0755 $$t $(DESTDIR)$(BINDIR)/; done
	for m in $(INSTALL_MAN); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/journal.h $(DESTDIR)$(LIBDIR)/libjournal.a \
		$(DESTDIR)$(LIBDIR)/libjournal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libjournal.so $(DESTDIR)$(PKGCONFIGDIR)/journal.pc
	for t in $(notdir $(INSTALL_TOOLS)); do rm -f $(DESTDIR)$(BINDIR)/$$t; done
	for m in $(notdir $(INSTALL_MAN)); do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done

format:
	clang-format -i include/*.h lib/*.[ch] lib/*/*.[ch] tests/*.[ch] tools/*.c tools/bench/*.[ch] $(wildcard examples/*.c)

clean:
	rm -rf build

# ---------------------------------------------------------------- faults and fuzzing
# (tests/faultshim.c, tests/fault_driver.c, tests/fuzz/; see tests/test_faults.c)
#
#   make fault-all                 the fault tests with every N, not a sample
#   make fuzz                      build the libFuzzer targets with clang
#   make fuzz-run FUZZ_SECONDS=60  run them (half the time each): fuzz_ops on a
#                                  copy of tests/fuzz/corpus, fuzz_store on the
#                                  data file of the demo's store

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -std=c11 -D_XOPEN_SOURCE=700 -Wall -Wextra -Wshadow -pthread -Iinclude \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

# The shim is never sanitized: it sits in front of the sanitizer runtime.
$(FAULT_SHIM): tests/faultshim.c tests/shim.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=c11 $(TEST_CFLAGS) -Wall -Wextra -Wshadow -fPIC -shared -o $@ $< -ldl -pthread

$(FAULT_DRIVER): tests/fault_driver.c $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(TEST_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS)

# The fuzzers compile the library's sources themselves, instrumented.
$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(LMDB_CFLAGS) $(if $(filter 1,$(PG)),$(PG_CFLAGS)) -o $@ $< \
		$(LIB_SRC) $(LIBS)

# The crash-image harness (tests/test_crashimg.c): a shim that logs the
# store's writes and syncs (never sanitized, like the fault shim), and the
# workload it runs under.
$(CRASHIMG_SHIM): tests/crashimg_shim.c tests/crashimg.h tests/shim.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -std=c11 $(TEST_CFLAGS) -Wall -Wextra -Wshadow -fPIC -shared -o $@ $< -ldl -pthread

$(CRASHIMG_DRIVER): tests/crashimg_driver.c tests/crashimg.h $(B)/libjournal.a include/journal.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(REQ_CFLAGS) $(TEST_CFLAGS) $(LMDB_CFLAGS) -o $@ $< $(B)/libjournal.a $(LDFLAGS) $(LIBS) -ldl

$(B)/tests/test_crashimg.o: tests/crashimg.h

ifdef JOURNAL_DEPS_DONE
fault-all: $(TEST_BIN) $(FAULT_SHIM) $(FAULT_DRIVER)
	$(TEST_ENV) JOURNAL_TEST_FAULT_ALL=1 $(TEST_BIN) --filter 'faults/*' --jobs=$(CRITERION_JOBS)

fuzz: $(B)/fuzz/fuzz_ops $(B)/fuzz/fuzz_store

# Both targets share FUZZ_SECONDS. fuzz_store's seed corpus is the data file
# of the demo's store.
fuzz-run: fuzz $(B)/bin/journal-demo
	rm -rf $(B)/fuzz/corpus $(B)/fuzz/corpus_store $(B)/fuzz/seed-store
	mkdir -p $(B)/fuzz/corpus $(B)/fuzz/corpus_store
	cp tests/fuzz/corpus/* $(B)/fuzz/corpus/
	$(B)/bin/journal-demo $(B)/fuzz/seed-store > /dev/null
	cp $(B)/fuzz/seed-store/data.mdb $(B)/fuzz/corpus_store/demo
	$(B)/fuzz/fuzz_ops -max_total_time=$$(( $(FUZZ_SECONDS) - $(FUZZ_SECONDS) / 2 )) -timeout=30 -max_len=1024 \
		-artifact_prefix=$(B)/fuzz/ $(B)/fuzz/corpus
	$(B)/fuzz/fuzz_store -max_total_time=$$(( $(FUZZ_SECONDS) / 2 )) -timeout=30 -max_len=65536 \
		-artifact_prefix=$(B)/fuzz/store- $(B)/fuzz/corpus_store
endif

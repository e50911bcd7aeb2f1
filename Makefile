# Tally build. `make` builds bin/tallyd; `make test` runs every test suite;
# `make SANITIZE=address,undefined ...` builds and tests under sanitizers.
# See README.md for the two commands a user needs.

CC ?= cc
PKGS := libbson-1.0 libuv lmdb yaml-0.1 libzstd openssl libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wimplicit-fallthrough -Wvla -Wno-missing-field-initializers
OPT ?= -O2 -g
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) -pthread $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -pthread -lm $(LDLIBS)

ifdef SANITIZE
BUILD ?= build/san
CFLAGS_ALL += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD ?= build/rel
endif

LIB_SRCS := $(sort $(wildcard src/core/*.c src/net/*.c src/wire/*.c src/cmd/*.c src/query/*.c src/storage/*.c src/repl/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all test unit integration compat fuzz bench format check-deps clean deps up down
all: bin/tallyd

# `make V=1` prints whole compiler command lines.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/tallyd: $(BUILD)/src/main.o $(LIB_OBJS)
	@$(if $(V),,echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

bin/tallyd: $(BUILD)/tallyd
	@mkdir -p bin
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LINK    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS_ALL)

# Unit tests: every tests/unit/test_*.c is its own binary; each prints
# "N passed, N failed". `make unit T=test_match` runs one.
unit: $(if $(T),$(BUILD)/unit/$(T),$(UNIT_BINS))
	@sh tests/unit/run.sh $^

integration: bin/tallyd bin/tally
	/usr/bin/python3 -m pytest -q tests/integration

compat: bin/tallyd
	sh tests/compat/run.sh

fuzz:
	$(MAKE) -C tests/fuzz run

bench:
	$(MAKE) -C bench

test:
	sh scripts/test.sh

deps:
	sh scripts/install-deps.sh

up:
	sh scripts/up.sh

down:
	sh scripts/up.sh down

format:
	clang-format -i $(wildcard src/*.c src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h)

check-deps:
	sh scripts/check-deps.sh

clean:
	rm -rf build bin

-include $(LIB_OBJS:.o=.d) $(BUILD)/src/main.d

# The `tally` admin tool (tools/tally): local clusters and their status, on libmongoc.
all: bin/tally
TALLY_SRCS := $(sort $(wildcard tools/tally/*.c))
# hiredis: the backup catalog stages events in Redis (tools/tally/catalog_redis.c).
TALLY_LIBS := $(shell pkg-config --libs hiredis)
bin/tally: $(TALLY_SRCS) $(wildcard tools/tally/*.h)
	@mkdir -p bin
	$(Q)$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags libmongoc-1.0) $(LDFLAGS) -o $@ $(TALLY_SRCS) $(shell pkg-config --libs libmongoc-1.0) $(TALLY_LIBS) $(LDLIBS_ALL)

# The deterministic simulator of the replication core (tests/sim; docs/testing.md
# "Simulator"). `make sim`: the determinism check, the regression seeds, then
# SIM_SEEDS (3000 by default, 3/5/7 members rotating; SIM_SEED_BASE shifts them),
# then the mutants. `make sim-mutants`: each core mutation must be caught.
# `make soak-sim SOAK_SEEDS=1..300000` for long runs. Built with sanitizers unless
# SIM_SANITIZE is empty; the core is compiled into each binary so a mutant's
# TALLY_MUTATION_* macro never reaches a normal build.
SIM_CORE := src/repl/repl_state.c src/repl/step.c src/repl/heartbeat.c src/repl/election.c src/repl/vote.c \
            src/repl/leader.c src/repl/commit.c src/repl/takeover.c src/repl/stepdown.c src/repl/sync.c \
            src/repl/messages.c src/repl/config.c src/core/optime.c src/core/mem.c src/core/err.c src/core/bsonutil.c
SIM_SRCS := $(sort $(wildcard tests/sim/*.c))
SIM_SANITIZE ?= address,undefined
SIM_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -Isrc -Itests/sim $(shell pkg-config --cflags libbson-1.0) \
              $(if $(SIM_SANITIZE),-fsanitize=$(SIM_SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
SIM_LIBS := $(shell pkg-config --libs libbson-1.0) -lm
SIM_MUTANTS := SKIP_VOTE_PERSIST NO_FRESHNESS_CHECK COMMIT_WITHOUT_MAJORITY
SIM_SEEDS ?= 1..3000
MUTANT_SEEDS ?= 1..600
SOAK_SEEDS ?= 1..200000
SIM_DEPS := tests/sim/sim.h $(wildcard src/repl/*.h src/core/*.h)

build/sim/obj/%.o: %.c $(SIM_DEPS)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SIM_CFLAGS) -c $< -o $@

define SIM_VARIANT
build/sim/$(1)/%.o: %.c $$(SIM_DEPS)
	@mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(SIM_CFLAGS) $(2) -c $$< -o $$@
build/sim/$(3): $$(SIM_SRCS:%.c=build/sim/obj/%.o) $$(SIM_CORE:%.c=build/sim/$(1)/%.o)
	@$$(if $$(V),,echo "  LINK    $$@")
	$$(Q)$$(CC) $$(SIM_CFLAGS) -o $$@ $$^ $$(SIM_LIBS)
endef
$(eval $(call SIM_VARIANT,core,,tally-sim))
$(foreach m,$(SIM_MUTANTS),$(eval $(call SIM_VARIANT,core-$(m),-DTALLY_MUTATION_$(m),tally-sim-$(m))))

.PHONY: sim sim-mutants soak-sim
sim: build/sim/tally-sim
	build/sim/tally-sim --determinism 7
	build/sim/tally-sim --regress
	build/sim/tally-sim --seeds $(SIM_SEEDS)
	@$(MAKE) --no-print-directory sim-mutants

# Mutants run a fixed seed range (SIM_SEED_BASE is cleared): whether a broken
# build is caught must not depend on the commit being tested.
sim-mutants: $(SIM_MUTANTS:%=build/sim/tally-sim-%)
	@pass=0; fail=0; for m in $(SIM_MUTANTS); do \
	  if SIM_SEED_BASE= build/sim/tally-sim-$$m --seeds $(MUTANT_SEEDS) --expect-fail; then pass=$$((pass+1)); \
	  else echo "mutant $$m survived"; fail=$$((fail+1)); fi; done; \
	echo "mutants: $$pass passed, $$fail failed"; test $$fail -eq 0

soak-sim: build/sim/tally-sim
	build/sim/tally-sim --seeds $(SOAK_SEEDS)

# Fault suite (tests/faults, needs root: network namespaces and iptables):
# the checkers' own tests, the mutant check, then FAULT_RUNS randomised runs
# (seed from $FAULT_SEED, else the commit). `make soak` runs hundreds.
.PHONY: faults soak
FAULT_RUNS ?= 8
FAULT_SECONDS ?= 30
SOAK_RUNS ?= 300
SOAK_SECONDS ?= 120
faults: bin/tallyd
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/faults
	/usr/bin/python3 tests/faults/run.py --runs $(FAULT_RUNS) --seconds $(FAULT_SECONDS)

soak: bin/tallyd
	/usr/bin/python3 tests/faults/run.py --runs $(SOAK_RUNS) --seconds $(SOAK_SECONDS) --json soak-results.json

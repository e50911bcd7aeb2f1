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
bin/tally: $(TALLY_SRCS) $(wildcard tools/tally/*.h)
	@mkdir -p bin
	$(Q)$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags libmongoc-1.0) $(LDFLAGS) -o $@ $(TALLY_SRCS) $(shell pkg-config --libs libmongoc-1.0) $(LDLIBS_ALL)

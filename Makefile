# llmtap: plain GNU make. `make` builds build/llmtap; `make test` installs what
# is missing, builds and runs every test; `make run` starts the server.
# Variants build into their own directories (build-asan/, build-vg/), so
# switching never needs a clean. DEVELOPER=1 adds -Werror.

BUILD   ?= build
CC      ?= cc
PKGS    := libcjson sqlite3 libzstd libcurl zlib
OPT     ?= -O2
WARN    := -Wall -Wextra -Wshadow -Wwrite-strings -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla
CFLAGS  := -std=c11 -D_GNU_SOURCE -I. -I$(BUILD)/gen $(OPT) -g -pthread $(WARN) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS)
ifeq ($(DEVELOPER),1)
CFLAGS  += -Werror
endif
LDFLAGS += -pthread $(EXTRA_LDFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

LIB_SRC  := $(wildcard core/*.c store/*.c collector/*.c evaluator/*.c ui/*.c)
CLI_SRC  := $(wildcard cli/*.c)
FIX_SRC  := $(wildcard fixtures/*.c)
SUP_SRC  := $(wildcard tests/support/*.c)
TEST_SRC := $(wildcard tests/*/test_*.c)
BENCH_SRC := $(wildcard bench/*.c)
UI_TPL   := $(sort $(wildcard ui/templates/*.mustache))
UI_STATIC := $(sort $(wildcard ui/static/*))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/embedded_prices.o \
            $(BUILD)/obj/gen/ui_templates.o $(BUILD)/obj/gen/ui_statics.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
FIX_OBJ  := $(FIX_SRC:%.c=$(BUILD)/obj/%.o)
SUP_OBJ  := $(SUP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:%.c=$(BUILD)/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIBA     := $(BUILD)/libllmtap.a
FAKEUP   := $(BUILD)/llmtap-fakeup
# The C shim (sdk-shims/c) is a client library, not part of the server: only
# its test suite and example link it.
SDKC_OBJ := $(BUILD)/obj/sdk-shims/c/llmtap.o
SDKC_EXAMPLE := $(BUILD)/sdk-c-example

.PHONY: all test test-unit test-bins run asan valgrind bench bench-store bench-ui bench-proxy bench-eval bench-sdk \
        format format-check \
        check-deps clean deps
all: $(BUILD)/llmtap

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The default price table is compiled into the binary from fixtures/prices.json.
$(BUILD)/gen/embedded_prices.c: fixtures/prices.json tools/embed.sh
	@mkdir -p $(dir $@)
	sh tools/embed.sh embedded_prices_json $< > $@

# The UI's templates and CSS are compiled in (llmtap serve --ui-dir reads them
# from disk instead).
$(BUILD)/gen/ui_templates.c: $(UI_TPL) tools/embed-dir.sh
	@mkdir -p $(dir $@)
	sh tools/embed-dir.sh ui_templates $(UI_TPL) > $@

$(BUILD)/gen/ui_statics.c: $(UI_STATIC) tools/embed-dir.sh
	@mkdir -p $(dir $@)
	sh tools/embed-dir.sh ui_statics $(UI_STATIC) > $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/llmtap: $(CLI_OBJ) $(FIX_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(FIX_OBJ) $(LIBA) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(SUP_OBJ) $(FIX_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SUP_OBJ) $(FIX_OBJ) $(LIBA) $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: bench/%.c $(SUP_OBJ) $(FIX_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SUP_OBJ) $(FIX_OBJ) $(LIBA) $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/tests/sdk/test_c_shim: tests/sdk/test_c_shim.c $(SDKC_OBJ) $(SUP_OBJ) $(FIX_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SDKC_OBJ) $(SUP_OBJ) $(FIX_OBJ) $(LIBA) $(LDLIBS) $(CHECK_LIBS)

$(SDKC_EXAMPLE): sdk-shims/c/example.c $(SDKC_OBJ)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(SDKC_OBJ) $(LDFLAGS) -lcurl -lm

# The fake LLM upstream (fixtures/fakeup.h), its own small server binary.
$(FAKEUP): fixtures/cmd/fakeup_main.c $(FIX_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(FIX_OBJ) $(LIBA) $(LDLIBS)

$(BUILD)/spangen: $(FIX_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(FIX_OBJ) $(LIBA) $(LDLIBS)

deps:
	@sh tools/deps.sh

test-bins: $(BUILD)/llmtap $(FAKEUP) $(TEST_BIN) $(BENCH_BIN) $(SDKC_EXAMPLE)

# The whole suite: unit suites (Check), integration, crash, real-client and
# browser tests (Debian's chromium, installed here when missing).
test:
	@sh tools/deps.sh chromium libxml2-utils python3-pip
	@$(MAKE) --no-print-directory test-bins
	@BUILD=$(BUILD) sh tests/run.sh

# The server with its demo data, and the fake upstream beside it so the demo
# can be driven through the proxy (tools/run.sh).
run: deps
	@$(MAKE) --no-print-directory all $(FAKEUP)
	@BUILD=$(BUILD) sh tools/run.sh $(ARGS)

asan:
	@sh tools/deps.sh chromium libxml2-utils python3-pip
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test-bins
	@BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 sh tests/run.sh

valgrind:
	@sh tools/deps.sh valgrind libxml2-utils
	@$(MAKE) --no-print-directory BUILD=build-vg OPT=-O1 test-bins
	@BUILD=build-vg VALGRIND=1 CK_FORK=no sh tests/run.sh

# The ingest benchmark, the proxy benchmark, then the store benchmark (issue 3 item 8: 1,000,000
# spans, STORE_SPANS=N for fewer; about half an hour). bench-store: that alone.
bench: deps
	@sh tools/deps.sh zstd
	@$(MAKE) --no-print-directory all $(BENCH_BIN) $(FAKEUP)
	@BUILD=$(BUILD) sh bench/run.sh
	@BUILD=$(BUILD) $(BUILD)/bench/bench_proxy
	@BUILD=$(BUILD) sh bench/eval.sh
	@BUILD=$(BUILD) sh bench/store.sh
	@BUILD=$(BUILD) sh bench/ui.sh
	@BUILD=$(BUILD) node bench/sdk_node.mjs

# The Node shim's added time per call, bare `openai` client against wrapped,
# on the fake upstream with spans sent to a live server (issue 8 item 6;
# about a minute). SDK_CALLS=N, SDK_STREAMS=N for other sizes.
bench-sdk: deps
	@$(MAKE) --no-print-directory all $(FAKEUP)
	@BUILD=$(BUILD) node bench/sdk_node.mjs

# The evaluator's runner: calls/s by concurrency and a cached re-run
# against the fake upstream (issue 6; about 15 s).
bench-eval: deps
	@$(MAKE) --no-print-directory all $(FAKEUP)
	@BUILD=$(BUILD) sh bench/eval.sh

# The proxy's added latency, time to first byte, event lag and calls/s
# against the fake upstream directly (issue 5 item 10; about a minute).
bench-proxy: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/bench_proxy
	@BUILD=$(BUILD) $(BUILD)/bench/bench_proxy

# The UI pages' server-side time on 1,000,000 spans (issue 4 item 9) alone.
bench-ui: deps
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/ui.sh

bench-store: deps
	@sh tools/deps.sh zstd
	@$(MAKE) --no-print-directory all $(BENCH_BIN)
	@BUILD=$(BUILD) sh bench/store.sh

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	@sh tools/deps.sh clang-format
	clang-format -i $(FORMAT_SRC)

format-check:
	@sh tools/deps.sh clang-format
	clang-format --dry-run --Werror $(FORMAT_SRC)

check-deps:
	@sh tools/check-deps.sh

clean:
	rm -rf build build-asan build-vg

# objects are kept: tests and benches share them
.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

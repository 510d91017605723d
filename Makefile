# Convenience wrapper around CMake. The two quick-start commands:
#   make demo    build, then quantize/verify/run the bundled default model
#   make check   build with -Werror, run every test; then again under ASan+UBSan
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SHARED ?= $(abspath ../shared)

.PHONY: all deps build check check-asan demo bench install clean

DEB_PACKAGES = gcc make cmake pkg-config libprotobuf-c-dev protobuf-c-compiler libcmocka-dev

all: build

# Installs the Debian packages the build needs when one is missing.
deps:
	@if ! command -v cmake >/dev/null || ! command -v protoc-c >/dev/null || ! command -v pkg-config >/dev/null \
	    || ! pkg-config --exists libprotobuf-c || [ ! -f /usr/include/cmocka.h ]; then \
	  echo "installing build dependencies: $(DEB_PACKAGES)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQL_WERROR=ON -DQL_SHARED_DIR=$(SHARED) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

check: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) check-asan

check-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DQL_WERROR=ON -DQL_SANITIZE=ON -DQL_SHARED_DIR=$(SHARED) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)/qlinear

bench: build
	bash bench/run.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# The two commands of the README. Everything else is plain CMake.
#   make demo   installs the program's packages, builds the program alone, trains the default recipe
#   make test   installs the test tools too, builds everything, runs the CTest suite
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps deps-tests build demo test install clean

deps:
	@bash scripts/install-deps.sh

deps-tests:
	@bash scripts/install-deps.sh --tests

# configure(TESTS): configures $(BUILD) with the tests and benchmarks on or off (the same build folder
# serves both: turning them on later recompiles nothing of the library or program).
define configure
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DCVTRAIN_BUILD_TESTS=$(1) -DCVTRAIN_BUILD_BENCH=$(1) \
	  $(CMAKE_FLAGS) > $(BUILD).configure.log 2>&1 || (cat $(BUILD).configure.log; exit 1)
endef

build: deps-tests
	$(call configure,ON)
	@cmake --build $(BUILD) -j $(JOBS)

# Trains the default recipe (the Fashion-MNIST CNN, 3 epochs) and prints the test accuracy.
demo: deps
	$(call configure,OFF)
	@cmake --build $(BUILD) -j $(JOBS) --target cvtrain_cli
	@$(BUILD)/cvtrain train recipes/fashion_cnn.yaml --out runs/demo --overwrite

# Builds everything and runs the whole CTest suite (unit tests, program checks, the installed-package example).
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

install: deps
	$(call configure,OFF)
	@cmake --build $(BUILD) -j $(JOBS)
	@cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf $(BUILD) $(BUILD).configure.log

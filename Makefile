# The two commands of the README. Everything else is plain CMake.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps build demo test install clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log || (cat $(BUILD).configure.log; exit 1)
	@cmake --build $(BUILD) -j $(JOBS)

# Trains the default recipe (the Fashion-MNIST CNN, 3 epochs) and prints the test accuracy.
demo: build
	@$(BUILD)/cvtrain train recipes/fashion_cnn.yaml --out runs/demo --overwrite

# Builds everything and runs the whole CTest suite (unit tests, program checks, the installed-package example).
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

install: build
	@cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf $(BUILD) $(BUILD).configure.log

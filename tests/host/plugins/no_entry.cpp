// A shared library that is not a plugin at all.
extern "C" __attribute__((visibility("default"))) int fixhost_test_not_a_plugin() { return 42; }

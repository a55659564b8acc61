// Keeps this stand-in archive non-empty (meson deprecates source-less targets); the real code comes from the system library.
extern "C" {
int ghosttalk_abseil_cpp_system_stub;
}

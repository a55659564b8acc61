/* Keeps this stand-in archive non-empty (meson deprecates source-less targets); the real code comes from the system library. */
int ghosttalk_openssl_system_stub;

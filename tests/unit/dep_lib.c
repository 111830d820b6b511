/* dep_lib.c — a tiny shared library for the depend_on tests. It is built twice with a
 * different DEP_VARIANT, so the two builds differ in content and therefore in build-id. */
__attribute__((visibility("default"))) const char *palloc_unit_dep_variant(void) { return DEP_VARIANT; }

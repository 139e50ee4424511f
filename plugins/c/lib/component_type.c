// The bindings are generated with `wit-bindgen c --no-object-file`: instead
// of a committed binary `stage_component_type.o`, scripts/build-plugins.sh
// embeds the component type from wit/ (`jco embed`). The generated code
// still references this symbol to force that object's link; define it.
void __component_type_object_force_link_stage(void);
void __component_type_object_force_link_stage(void) {}

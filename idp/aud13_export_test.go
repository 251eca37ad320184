package idp

// APIEndpoint exposes apiEndpoint to the external tests.
func APIEndpoint(pattern string) string { return apiEndpoint(pattern) }

package devicelogin

// open opens page in the default browser.
func open(page string) error { return start("rundll32", "url.dll,FileProtocolHandler", page) }

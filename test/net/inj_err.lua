-- inj_err — injected by the debug console test: prints, then fails.
print "before error"
error "inj boom"

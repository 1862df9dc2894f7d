-- inj_ok — injected by the debug console test (console `inject`): prints a
-- line with the service name and the inject arguments.
print("injected", SERVICE_NAME, ...)
return 42

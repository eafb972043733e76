// The companion client: interactive, repeat and load modes. (Built under its own issue.)
print("usage: Client [--host H] [--port P]")

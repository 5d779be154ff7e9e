module matchlock.dev/bench/sdkdriver

go 1.19

require matchlock.dev/go/sdk v0.0.0

replace matchlock.dev/go/sdk => ../../../sdk-go

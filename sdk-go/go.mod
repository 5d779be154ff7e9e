module matchlock.dev/go/sdk

go 1.19

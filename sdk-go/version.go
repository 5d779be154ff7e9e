package sdk

// Version is the version of this module; it equals the repository's VERSION file and the
// version of the matchlock engine released with it.
const Version = "0.1.0"

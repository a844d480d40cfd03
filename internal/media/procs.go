package media

import "runtime"

func defaultSchedulers() int { return runtime.GOMAXPROCS(0) }

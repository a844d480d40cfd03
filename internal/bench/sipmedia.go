package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-cc/switchboard/internal/media"
	"github.com/switchboard-cc/switchboard/internal/sipfront"
	"github.com/switchboard-cc/switchboard/internal/sipload"
)

// SIPLoadMedia is SIPLoad with a media section on the tenant (anchor:
// treatments, the eu tones, a running plane): its calls between phones
// anchor nothing, so the figure is what the media code costs SIP while no
// media runs.
func SIPLoadMedia(ctx context.Context, sipp string, rate int, d time.Duration, log *slog.Logger) (sipload.Result, error) {
	tones, err := media.NewTones(media.TonesEU)
	if err != nil {
		return sipload.Result{}, err
	}
	plane := media.NewPlane(media.Config{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go plane.Run(ctx)
	return sipLoad(ctx, sipp, rate, d, log, &sipfront.Media{Plane: plane, Tones: tones, DefaultMusic: media.DemoMusic()})
}

// sipMediaRow is the SIP figure of the tenant with media (mr) and its
// ratio to the one without (lr), measured in the same run.
func sipMediaRow(lr, mr sipload.Result) Row {
	ratio := 0.0
	if lr.CallsPerSec > 0 {
		ratio = mr.CallsPerSec / lr.CallsPerSec
	}
	return Row{Name: RowSIPMedia, Value: mr.CallsPerSec, Unit: "calls/s", Higher: true,
		Note: fmt.Sprintf("%.2fx the SIP calls/s row of this run: the same load, the tenant with a media section (anchor: treatments) and no call anchored; %d failed; INVITE-to-200 p99 %.0f ms (%.0f without media)",
			ratio, mr.Failed, mr.Percentile(0.99), lr.Percentile(0.99))}
}

// stampNote says how the media rows timed the packets.
func stampNote(r media.LoadResult) string {
	if r.KernelStamps {
		return "timed by the kernel as they reached the loopback receivers"
	}
	return "timed when the receivers read them"
}

package healthcheck

import "time"

// damper turns the attempts of one check into its up/down state, with
// keepalived's retries and a rise count:
//
//   - while up, a failed attempt is retried Retry more times, spaced by
//     DelayBeforeRetry; the check goes down when the last retry fails too
//     (a pass in between resets the count);
//   - while down, Rise consecutive passes, spaced by the interval, bring
//     it back up (Rise 1: the first pass);
//   - retries only delay going down: a check that is down (or starts
//     down, as with alpha) does not retry.
type damper struct {
	up      bool
	hasRun  bool // an attempt has completed
	retries int  // failed attempts of the current series, while up
	rises   int  // consecutive passes, while down
}

// step records one attempt and returns whether the state changed and
// whether the next attempt is a retry (after DelayBeforeRetry rather than
// the interval).
func (d *damper) step(ok bool, retry, rise int) (changed, retrying bool) {
	d.hasRun = true
	if ok {
		d.retries = 0
		if d.up {
			return false, false
		}
		d.rises++
		if d.rises >= max(rise, 1) {
			d.up, d.rises = true, 0
			return true, false
		}
		return false, false
	}
	d.rises = 0
	if !d.up {
		return false, false
	}
	if d.retries < retry {
		d.retries++
		return false, true
	}
	d.up, d.retries = false, 0
	return true, false
}

// next returns the delay before the next attempt.
func next(retrying bool, s *spec) time.Duration {
	if retrying {
		return s.check.DelayBeforeRetry
	}
	return s.interval
}

package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// CEL's timestamp accessors with a time zone (getHours('Europe/Berlin'))
// load the zone from the zoneinfo files on every call: three quarters of
// a decision's time went there. These overloads replace them (same
// names, same signatures, same results) with zones loaded once.

// zoneCache memoizes time.LoadLocation. Only zones that exist are kept,
// so it holds at most the few hundred zones of the tz database.
type zoneCache struct {
	mu    sync.Mutex // guards zones
	zones map[string]*time.Location
}

// load is the zone name, or a fixed offset "+01:00" / "-05:30" as CEL
// accepts it.
func (c *zoneCache) load(name string) (*time.Location, error) {
	if sign, hm, ok := strings.Cut(name, ":"); ok {
		h, err1 := strconv.Atoi(sign)
		m, err2 := strconv.Atoi(hm)
		if err1 != nil || err2 != nil || h < -23 || h > 23 || m < 0 || m > 59 {
			return nil, fmt.Errorf("time zone offset %q: use +HH:MM or a zone name like Europe/Berlin", name)
		}
		off := h*3600 + m*60
		if strings.HasPrefix(sign, "-") {
			off = h*3600 - m*60
		}
		return time.FixedZone(name, off), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if loc, ok := c.zones[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	c.zones[name] = loc
	return loc, nil
}

// zonedAccessors are the EnvOptions replacing CEL's accessors with a zone.
func zonedAccessors() []cel.EnvOption {
	c := &zoneCache{zones: map[string]*time.Location{}}
	accessor := func(fn, id string, part func(time.Time) int) cel.EnvOption {
		return cel.Function(fn, cel.MemberOverload(id, []*cel.Type{cel.TimestampType, cel.StringType}, cel.IntType,
			cel.BinaryBinding(func(ts, tz ref.Val) ref.Val {
				t, okT := ts.(types.Timestamp)
				name, okZ := tz.(types.String)
				if !okT || !okZ {
					return types.NoSuchOverloadErr()
				}
				loc, err := c.load(string(name))
				if err != nil {
					return types.WrapErr(err)
				}
				return types.Int(part(t.In(loc)))
			})))
	}
	return []cel.EnvOption{
		accessor(overloads.TimeGetFullYear, overloads.TimestampToYearWithTz, time.Time.Year),
		accessor(overloads.TimeGetMonth, overloads.TimestampToMonthWithTz, func(t time.Time) int { return int(t.Month()) - 1 }),
		accessor(overloads.TimeGetDayOfYear, overloads.TimestampToDayOfYearWithTz, func(t time.Time) int { return t.YearDay() - 1 }),
		accessor(overloads.TimeGetDayOfMonth, overloads.TimestampToDayOfMonthZeroBasedWithTz, func(t time.Time) int { return t.Day() - 1 }),
		accessor(overloads.TimeGetDate, overloads.TimestampToDayOfMonthOneBasedWithTz, time.Time.Day),
		accessor(overloads.TimeGetDayOfWeek, overloads.TimestampToDayOfWeekWithTz, func(t time.Time) int { return int(t.Weekday()) }),
		accessor(overloads.TimeGetHours, overloads.TimestampToHoursWithTz, time.Time.Hour),
		accessor(overloads.TimeGetMinutes, overloads.TimestampToMinutesWithTz, time.Time.Minute),
		accessor(overloads.TimeGetSeconds, overloads.TimestampToSecondsWithTz, time.Time.Second),
		accessor(overloads.TimeGetMilliseconds, overloads.TimestampToMillisecondsWithTz, func(t time.Time) int { return t.Nanosecond() / 1e6 }),
	}
}

package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// TOTP as every authenticator app speaks it (RFC 6238): HMAC-SHA1, six
// digits, 30-second steps; a code is good one step either side of now
// (clock drift), and only once.
const (
	totpPeriod = 30
	totpDrift  = 1 // steps either side
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TOTPEnrolment is a seed being enrolled: shown once, as text and as the
// otpauth:// URL a QR code carries.
type TOTPEnrolment struct {
	Secret string
	URL    string
}

// BeginTOTP makes a new TOTP seed for user, pending until ConfirmTOTP
// gets a code made with it; a confirmed seed stays in force until then.
func (s *Service) BeginTOTP(ctx context.Context, user string) (TOTPEnrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.TOTPIssuer, AccountName: user,
		Period: totpPeriod, SecretSize: 20, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("TOTP for %q: %w", user, err)
	}
	if err := s.store.SetPendingTOTP(ctx, user, key.Secret()); err != nil {
		return TOTPEnrolment{}, fmt.Errorf("TOTP for %q: %w", user, err)
	}
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// ConfirmTOTP makes user's pending seed its TOTP if code was made with it.
func (s *Service) ConfirmTOTP(ctx context.Context, user, code string) error {
	a, err := s.store.Account(ctx, user)
	if err != nil {
		return fmt.Errorf("confirm TOTP for %q: %w", user, err)
	}
	if a.TOTPPending == "" {
		return fmt.Errorf("confirm TOTP for %q: %w: start one first", user, ErrNoEnrolment)
	}
	step, err := matchTOTP(a.TOTPPending, code, s.clock.Now(), 0)
	if err != nil {
		return fmt.Errorf("confirm TOTP for %q: %w (%w): check the authenticator app's clock and enter the current code", user, ErrBadCredentials, err)
	}
	if err := s.store.ConfirmTOTP(ctx, user, a.TOTPPending, step); err != nil {
		if errors.Is(err, store.ErrChanged) {
			return fmt.Errorf("confirm TOTP for %q: another enrolment started meanwhile: scan its code instead", user)
		}
		return fmt.Errorf("confirm TOTP for %q: %w", user, err)
	}
	return nil
}

// RemoveTOTP removes user's TOTP (confirmed and pending).
func (s *Service) RemoveTOTP(ctx context.Context, user string) error {
	if err := s.store.RemoveTOTP(ctx, user); err != nil {
		return fmt.Errorf("remove TOTP of %q: %w", user, err)
	}
	return nil
}

// Why matchTOTP refused a code.
var (
	errCodeWrong    = errors.New("wrong code")
	errCodeReplayed = errors.New("code already used")
)

// matchTOTP returns the step within the drift window around now at which
// secret makes code. Steps at or before last were used already:
// errCodeReplayed if code is one of theirs.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, error) {
	code = strings.ReplaceAll(code, " ", "")
	if len(code) != 6 {
		return 0, errCodeWrong
	}
	cur := now.Unix() / totpPeriod
	replayed := false
	for step := cur - totpDrift; step <= cur+totpDrift; step++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, fmt.Errorf("stored TOTP seed: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		if step <= last {
			replayed = true
			continue
		}
		return step, nil
	}
	if replayed {
		return 0, errCodeReplayed
	}
	return 0, errCodeWrong
}

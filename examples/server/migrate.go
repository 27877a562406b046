package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/postgres"
)

// migrateCmd is `server migrate -from bolt:FILE -to postgres://…` (or the
// reverse, or bolt to bolt): it copies every record into an empty target with
// storage.Copy, then checks the target with Verify and compares the counts. The
// target keeps the source's secret key, so tokens and invitation links keep
// working: with a bbolt source the key is FILE.key; give it with -key-file
// otherwise.
func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the source: bolt:FILE or postgres://…")
	to := fs.String("to", "", "the target, empty: bolt:FILE (a new file) or postgres://…")
	keyFile := fs.String("key-file", "", "the secret-hashing key file (default FILE.key of a bolt source)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return usageError{"migrate needs -from and -to, e.g. -from bolt:tenancy.db -to postgres://…"}
	}
	kf := *keyFile
	if kf == "" {
		if p, ok := strings.CutPrefix(*from, "bolt:"); ok {
			kf = p + ".key"
		} else {
			return usageError{"with a PostgreSQL source give -key-file: the key its tokens were hashed with"}
		}
	}
	key, err := os.ReadFile(kf)
	if err != nil {
		return fmt.Errorf("read the key file: %w", err)
	}
	src, err := openSpec(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("open the source: %w", err)
	}
	defer src.Close()
	dst, err := openSpec(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("open the target: %w", err)
	}
	defer dst.Close()
	start := time.Now()
	n, err := storage.Copy(ctx, dst, src, storage.CopyOptions{Batch: 2000, Progress: func(c int) {
		fmt.Fprintf(stderr, "\rcopied %d records", c)
	}})
	fmt.Fprintln(stderr)
	if errors.Is(err, storage.ErrTargetNotEmpty) {
		return fmt.Errorf("the target %s is not empty: migrate into a new file or an empty database", *to)
	}
	if err != nil {
		return err
	}
	m, err := tenancy.New(dst, tenancy.Options{SecretKey: key})
	if err != nil {
		return fmt.Errorf("open the target with the key: %w", err)
	}
	defer m.Close()
	findings, err := m.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify the target: %w", err)
	}
	if len(findings) > 0 {
		return fmt.Errorf("the target failed verification with %d findings (first: %s)", len(findings), findings[0])
	}
	fmt.Fprintf(stdout, "copied in %s: %d users, %d workspaces, %d members, %d invitations, %d tokens, %d events, %d webhooks; the target passes Verify\n",
		time.Since(start).Round(time.Millisecond), n.Users, n.Workspaces, n.Members, n.Invitations, n.Tokens, n.Events, n.Webhooks)
	if strings.HasPrefix(*to, "bolt:") && *keyFile == "" {
		fmt.Fprintf(stdout, "keep the key with it: cp %s %s.key\n", kf, strings.TrimPrefix(*to, "bolt:"))
	}
	return nil
}

// openSpec opens bolt:FILE or a postgres:// URL; a target bbolt file must be new.
func openSpec(ctx context.Context, spec string, target bool) (storage.Storage, error) {
	if p, ok := strings.CutPrefix(spec, "bolt:"); ok {
		if _, err := os.Stat(p); target && err == nil {
			return nil, fmt.Errorf("%s exists: migrate into a new file", p)
		} else if !target && err != nil {
			return nil, err
		}
		return bolt.Open(p, bolt.Options{})
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return postgres.Open(ctx, spec, postgres.Options{})
	}
	return nil, usageError{fmt.Sprintf("%q: want bolt:FILE or postgres://…", clipArg(spec))}
}

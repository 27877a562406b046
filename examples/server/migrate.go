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

	"golang.org/x/term"

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
	to := fs.String("to", "", "the target: bolt:FILE or postgres://…, empty (or as an interrupted migrate left it: it resumes)")
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
	want, err := storage.Count(ctx, src)
	if err != nil {
		return err
	}
	bar := progressBar(stderr, want.Total())
	n, err := storage.Copy(ctx, dst, src, storage.CopyOptions{Batch: 2000, Progress: bar})
	bar(-1)
	if errors.Is(err, storage.ErrTargetNotEmpty) {
		return fmt.Errorf("the target %s is not empty: migrate into a new file or an empty database", *to)
	}
	if err != nil {
		return fmt.Errorf("%w (run the same command again to resume)", err)
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
	got, err := storage.Count(ctx, dst)
	if err != nil {
		return err
	}
	got.Settings = want.Settings // the target also holds the copy's own mark
	if got != want {
		return fmt.Errorf("the target's counts differ from the source's: %+v, want %+v", got, want)
	}
	fmt.Fprintf(stdout, "copied in %s: %d users, %d workspaces, %d members, %d invitations, %d tokens, %d events, %d webhooks; the target passes Verify and holds as many of each\n",
		time.Since(start).Round(time.Millisecond), n.Users, n.Workspaces, n.Members, n.Invitations, n.Tokens, n.Events, n.Webhooks)
	if strings.HasPrefix(*to, "bolt:") && *keyFile == "" {
		fmt.Fprintf(stdout, "keep the key with it: cp %s %s.key\n", kf, strings.TrimPrefix(*to, "bolt:"))
	}
	return nil
}

// openSpec opens bolt:FILE or a postgres:// URL. A target bbolt file may exist only
// as an interrupted migration left it (storage.Copy refuses any other non-empty
// target, and resumes that one).
func openSpec(ctx context.Context, spec string, target bool) (storage.Storage, error) {
	if p, ok := strings.CutPrefix(spec, "bolt:"); ok {
		if _, err := os.Stat(p); !target && err != nil {
			return nil, err
		}
		return bolt.Open(p, bolt.Options{})
	}
	if strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://") {
		return postgres.Open(ctx, spec, postgres.Options{})
	}
	return nil, usageError{fmt.Sprintf("%q: want bolt:FILE or postgres://…", clipArg(spec))}
}

// progressBar returns storage.Copy's Progress for a copy of about total records: a
// bar redrawn in place when w is a terminal, nothing otherwise (a log is no place
// for carriage returns). Called with -1 it ends the line.
func progressBar(w io.Writer, total int) func(int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || total <= 0 {
		return func(int) {}
	}
	drawn := false
	return func(copied int) {
		if copied < 0 {
			if drawn {
				fmt.Fprintln(w)
			}
			return
		}
		drawn = true
		fmt.Fprint(w, "\r"+progressLine(copied, total))
	}
}

// progressLine draws "[#####     ]  50% 1000/2000 records".
func progressLine(copied, total int) string {
	const width = 30
	if copied > total {
		copied = total // the copy's own marks are counted too
	}
	filled := copied * width / total
	return fmt.Sprintf("[%s%s] %3d%% %d/%d records", strings.Repeat("#", filled), strings.Repeat(" ", width-filled),
		copied*100/total, copied, total)
}

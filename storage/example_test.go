package storage_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
)

// Update is all or nothing: an error rolls back every write, and OnCommit runs only
// after a commit.
func ExampleStorage() {
	ctx := context.Background()
	var s storage.Storage = memory.New()
	defer s.Close()

	err := s.Update(ctx, func(tx storage.ReadWriter) error {
		tx.OnCommit(func() { fmt.Println("committed") })
		return tx.CreateUser(member.User{ID: "ada", Email: "ada@example.com"})
	})
	fmt.Println(err)

	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		tx.OnCommit(func() { fmt.Println("never printed") })
		_ = tx.CreateUser(member.User{ID: "bob", Email: "bob@example.com"})
		return errors.New("changed my mind")
	})
	fmt.Println(err)

	_ = s.View(ctx, func(tx storage.Reader) error {
		_, err := tx.GetUser("bob")
		fmt.Println(errors.Is(err, storage.ErrNotFound))
		return nil
	})
	// Output:
	// committed
	// <nil>
	// changed my mind
	// true
}

// Create… inserts and names the unique index it collided with; Put… only replaces.
func ExampleConflictIndex() {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()

	_ = s.Update(ctx, func(tx storage.ReadWriter) error {
		return tx.CreateUser(member.User{ID: "ada", Email: "ada@example.com"})
	})
	err := s.Update(ctx, func(tx storage.ReadWriter) error {
		return tx.CreateUser(member.User{ID: "ada2", Email: "ada@example.com"})
	})
	fmt.Println(errors.Is(err, storage.ErrExists), storage.ConflictIndex(err))

	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		return tx.ReplaceUser(member.User{ID: "bob", Email: "bob@example.com"})
	})
	fmt.Println(errors.Is(err, storage.ErrNotFound))
	// Output:
	// true user.email
	// true
}

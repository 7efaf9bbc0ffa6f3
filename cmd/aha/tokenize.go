package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("tokenize", "print the token ids of a text", runTokenize)
}

func runTokenize(args []string) error {
	fs := newFlags("tokenize", "[-m MODEL] [--no-bos] [--json] [--chat] TEXT")
	modelPath := fs.String("m", "", "a GGUF file (a vocab-only one will do) or a folder holding tokenizer.json (default: the embedded stories260K)")
	noBOS := fs.Bool("no-bos", false, "leave out the BOS token the tokenizer would add")
	asJSON := fs.Bool("json", false, "print ids and pieces as JSON")
	chat := fs.Bool("chat", false, "render TEXT as one user message with the model's chat template first (the prompt goes to stderr)")
	templateFile := fs.String("template", "", "chat template file overriding the model's (with --chat)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one TEXT argument, got %d", len(rest))
	}
	tok, err := loader.Tokenizer(*modelPath)
	if err != nil {
		return err
	}

	var ids []int
	if *chat {
		name := *modelPath
		if name == "" {
			name = builtin.Name
		}
		chat, err := loader.NewChat(tok, name, *templateFile)
		if err != nil {
			return err
		}
		var text string
		ids, text, err = chat.Prompt([]template.Message{{"role": "user", "content": rest[0]}}, nil)
		if err != nil {
			return err
		}
		fmt.Fprint(os.Stderr, text)
		if *noBOS && len(ids) > 0 && ids[0] == tok.BOS() {
			ids = ids[1:]
		}
	} else {
		ids = tok.Encode(rest[0], !*noBOS)
	}
	if *asJSON {
		pieces := make([]string, len(ids))
		for i, id := range ids {
			pieces[i] = tok.Piece(id)
		}
		b, err := json.Marshal(struct {
			IDs    []int    `json:"ids"`
			Pieces []string `json:"pieces"`
		}{ids, pieces})
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	fmt.Println(strings.Join(s, " "))
	return nil
}

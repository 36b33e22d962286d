package worktree

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/processfork/pf"
	"github.com/processfork/pf/manifest"
)

// recentPlans are the checked plans of the trees restored last in a
// process that watches its workspaces (pf serve): an agent going back
// and forth between a few checkpoints has each tree decoded and checked
// once, not at every restore (on a tree of 11,500 files, about a fifth of
// a restore's work). A tree is known by its digest: its plan can never be
// another's.
var recentPlans = &planCache{}

// planCacheSize is how many plans recentPlans keeps: a few trees of a few
// MB each.
const planCacheSize = 4

type planCache struct {
	mu    sync.Mutex
	plans []*cachedPlan // the one used last, last
}

type planKey struct {
	tree                 manifest.Digest
	allowOutsideSymlinks bool
}

// A cachedPlan is a checked plan and the warnings its check gave, which
// each restore of it gives again.
type cachedPlan struct {
	key      planKey
	plan     *checkoutPlan
	warnings []planWarning
	// tree is the tree checked, for a backup that finds the directory
	// as it (see Capture.knownTree).
	tree *manifest.Tree
}

type planWarning struct {
	path string
	err  error
}

func (c *planCache) get(key planKey) *cachedPlan {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.plans {
		if p.key == key {
			c.plans = append(append(c.plans[:i:i], c.plans[i+1:]...), p)
			return p
		}
	}
	return nil
}

// treeOf returns the tree fs, if a plan kept is of it.
func (c *planCache) treeOf(fs manifest.Digest) *manifest.Tree {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.plans {
		if p.key.tree == fs {
			return p.tree
		}
	}
	return nil
}

func (c *planCache) put(p *cachedPlan) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.plans) == planCacheSize {
		c.plans = c.plans[1:]
	}
	c.plans = append(c.plans, p)
}

// restorePlan returns the checked plan of image's tree (see planCheckout),
// giving warn what the check warns of; keep keeps it in recentPlans, and
// takes it from there if it is. A plan kept anew takes the path strings
// of like, the directory's tree, where it has the same paths (see
// internPaths).
func restorePlan(ctx context.Context, s *pf.Store, image manifest.Digest, allowOutsideSymlinks, keep bool, like []manifest.Entry, warn func(string, error)) (*checkoutPlan, error) {
	opts := CheckoutOptions{AllowOutsideSymlinks: allowOutsideSymlinks, Warn: warn}
	if !keep {
		tree, err := LoadTree(ctx, s, image)
		if err != nil {
			return nil, err
		}
		return planCheckout(tree, opts)
	}
	img, err := s.Image(ctx, image)
	if err != nil {
		return nil, err
	}
	key := planKey{tree: img.Manifest.World.FS, allowOutsideSymlinks: allowOutsideSymlinks}
	if p := recentPlans.get(key); p != nil {
		for _, w := range p.warnings {
			warn(w.path, w.err)
		}
		return p.plan, nil
	}
	tree, err := decodeTreeOf(ctx, s, image, key.tree)
	if err != nil {
		return nil, err
	}
	internPaths(tree.Entries, like)
	cached := &cachedPlan{key: key, tree: tree}
	opts.Warn = func(path string, err error) {
		cached.warnings = append(cached.warnings, planWarning{path, err})
		warn(path, err)
	}
	if cached.plan, err = planCheckout(tree, opts); err != nil {
		return nil, err
	}
	recentPlans.put(cached)
	return cached.plan, nil
}

// decodeTreeOf decodes the tree fs of image.
func decodeTreeOf(ctx context.Context, s *pf.Store, image, fs manifest.Digest) (*manifest.Tree, error) {
	if fs == manifest.EmptyDigest {
		return &manifest.Tree{}, nil
	}
	raw, err := s.Blobs().Get(ctx, fs)
	if errors.Is(err, pf.ErrNotFound) {
		err = fmt.Errorf("%w: %w", pf.ErrCorrupt, err)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: world.fs %s: %w", image.Short(), fs.Short(), err)
	}
	tree, err := manifest.DecodeTree(raw)
	if err != nil {
		return nil, fmt.Errorf("image %s: world.fs %s: %w: %w", image.Short(), fs.Short(), pf.ErrCorrupt, err)
	}
	return tree, nil
}

// internPaths gives each of entries whose path like has too like's string
// of it. Both are in the order of manifest.ComparePaths. A restore diffs
// the directory's tree with its plan entry by entry (restorer.plan), and
// two equal strings that share their bytes compare at once, where two
// copies compare byte by byte: on a tree of 11,500 files, most of that
// diff. The directory's trees share their strings from capture to
// capture (the watcher's memo keeps them), and so do the plans kept from
// them, whose states the next restore takes as the directory's.
func internPaths(entries, like []manifest.Entry) {
	for i, j := 0, 0; i < len(entries) && j < len(like); {
		order := 0
		if entries[i].Path != like[j].Path {
			order = manifest.ComparePaths(entries[i].Path, like[j].Path)
		}
		switch {
		case order == 0:
			entries[i].Path = like[j].Path
			i++
			j++
		case order < 0:
			i++
		default:
			j++
		}
	}
}

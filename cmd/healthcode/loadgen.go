package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"healthcode"
	"healthcode/internal/secure"
	"healthcode/internal/sqlstore"
)

// loadgenConfig is what `healthcode loadgen` is told.
type loadgenConfig struct {
	storageConfig
	Residents, Venues, Days, PerDay int
	Seed                            uint64
	Region                          string
	Batch, Writers                  int
	Sessions                        int
	SessionsFile                    string
}

// Districts of Hangzhou, for home regions and venues.
var loadgenDistricts = []string{"330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112", "330113", "330114"}

var (
	loadgenSurnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
	loadgenGiven    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力斌宇浩凯健俊帆鹏飞云波宁欣怡晨阳")
)

// venue types by share of all venues, and the hour of day people tend to go.
var loadgenVenueTypes = []struct {
	t     healthcode.VenueType
	share float64
	hour  float64
}{
	{healthcode.Transit, 0.10, 8}, {healthcode.Office, 0.25, 9}, {healthcode.School, 0.05, 8.5},
	{healthcode.Restaurant, 0.30, 12.5}, {healthcode.Mall, 0.15, 19}, {healthcode.Hospital, 0.03, 10},
	{healthcode.TollGate, 0.02, 17.5}, {healthcode.OtherVenue, 0.10, 15},
}

func runLoadgen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg loadgenConfig
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	fs.IntVar(&cfg.Residents, "residents", 10000, "residents to enroll")
	fs.IntVar(&cfg.Venues, "venues", 200, "venues to create")
	fs.IntVar(&cfg.Days, "days", 14, "days of check-ins, ending now")
	fs.IntVar(&cfg.PerDay, "checkins-per-day", 5, "check-ins per resident per day")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed: the same seed gives the same population")
	fs.StringVar(&cfg.Region, "region", "330100", "the issuing region of the residents' codes")
	fs.IntVar(&cfg.Batch, "batch", 50000, "check-ins per bulk insert")
	fs.IntVar(&cfg.Sessions, "sessions", 0, "sign in this many of the residents (for display-path benchmarks)")
	fs.StringVar(&cfg.SessionsFile, "sessions-file", "sessions.txt", "where --sessions writes the session tokens, one a line")
	fs.IntVar(&cfg.Writers, "writers", 0, "bulk inserts in flight at once (default 1 on SQLite, which has one writer, and 2 on PostgreSQL)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	switch {
	case cfg.Residents < 1 || cfg.Residents > 50_000_000:
		return usageError("--residents must be between 1 and 50,000,000")
	case cfg.Venues < 1 || cfg.Venues > 10_000_000:
		return usageError("--venues must be between 1 and 10,000,000")
	case cfg.Days < 1 || cfg.Days > 28:
		return usageError("--days must be between 1 and 28 (retention)")
	case cfg.PerDay < 0 || cfg.PerDay > 50:
		return usageError("--checkins-per-day must be between 0 and 50")
	case cfg.Batch < 100 || cfg.Batch > 1_000_000:
		return usageError("--batch must be between 100 and 1,000,000")
	case !healthcode.ValidRegionCode(cfg.Region):
		return usageError("--region must be a 6-digit region code")
	case cfg.Sessions < 0 || cfg.Sessions > cfg.Residents:
		return usageError("--sessions must be between 0 and --residents")
	case cfg.Writers < 0 || cfg.Writers > 16:
		return usageError("--writers must be between 1 and 16")
	}
	if cfg.Writers == 0 {
		cfg.Writers = 1
		if engineName(cfg.dbURL()) == "postgres" {
			cfg.Writers = 2
		}
	}
	db, _, err := cfg.openStore(ctx, healthcode.SystemClock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	now := time.Now().Truncate(time.Second)

	// Residents: valid documents and phones, unique per seed.
	start := time.Now()
	subjects := make([]string, cfg.Residents)
	var signIn []int64 // the residents --sessions signs in
	bar := newProgress(stderr, "residents", cfg.Residents)
	for i := 0; i < cfg.Residents; i += 10000 {
		n := min(10000, cfg.Residents-i)
		batch := make([]*healthcode.Resident, n)
		for j := range batch {
			batch[j] = loadgenResident(rng, cfg.Seed, i+j)
		}
		if err := db.BulkCreateResidents(ctx, batch); err != nil {
			return fmt.Errorf("residents: %w", err)
		}
		for j, r := range batch {
			subjects[i+j] = r.Pseudonym
			if i+j < cfg.Sessions {
				signIn = append(signIn, r.ID)
			}
		}
		bar.set(i + n)
	}
	bar.done()
	fmt.Fprintf(stdout, "residents: %d in %s (%.0f/s)\n", cfg.Residents, time.Since(start).Round(time.Millisecond), float64(cfg.Residents)/time.Since(start).Seconds())

	if cfg.Sessions > 0 {
		if err := loadgenSessions(ctx, db, signIn, cfg.SessionsFile, stdout); err != nil {
			return err
		}
	}

	// Venues, with a type and a popularity that follows a power law.
	start = time.Now()
	venues := make([]loadgenVenue, cfg.Venues)
	bar = newProgress(stderr, "venues", cfg.Venues)
	for i := range venues {
		vt := pickVenueType(rng)
		v := &healthcode.Venue{Name: fmt.Sprintf("%s %d", vt.t, i+1), Type: vt.t, Region: loadgenDistricts[rng.IntN(len(loadgenDistricts))],
			Address: fmt.Sprintf("街道 %d 号", rng.IntN(999)+1), Policy: healthcode.Policy{Kind: healthcode.PolicyGreen}}
		if err := db.CreateVenue(ctx, v); err != nil {
			return fmt.Errorf("venues: %w", err)
		}
		venues[i] = loadgenVenue{id: v.ID, hour: vt.hour}
		if i%1000 == 0 {
			bar.set(i)
		}
	}
	bar.done()
	fmt.Fprintf(stdout, "venues: %d in %s\n", cfg.Venues, time.Since(start).Round(time.Millisecond))

	// Daily routines: each resident has a few regular places, picked by
	// popularity, visited at about the same hour each day, so that the same
	// people meet; the rest of the day's check-ins are anywhere. Popularity
	// is Zipf with exponent 0.5: with 1 M residents and 20,000 venues the
	// busiest venue sees about 18,000 check-ins a day (a large transit hub)
	// and the median one about 180. An exponent of 1.1 sent 13% of all
	// check-ins to one venue (650,000 a day), which no real place sees.
	pop := newZipf(rng, len(venues), 0.5)
	const regulars = 3
	routine := make([]int32, cfg.Residents*regulars)
	for i := range routine {
		routine[i] = int32(pop.next())
	}
	total := cfg.Residents * cfg.Days * cfg.PerDay
	start = time.Now()
	bar = newProgress(stderr, "check-ins", total)
	load, err := db.BeginCheckInLoad(ctx)
	if err != nil {
		return fmt.Errorf("check-ins: %w", err)
	}
	// The writers insert full batches while this goroutine makes the next
	// ones, so generating and inserting overlap.
	batches := make(chan []healthcode.CheckIn, cfg.Writers)
	written := make(chan int, cfg.Writers)
	writeErr := make(chan error, cfg.Writers)
	var writers sync.WaitGroup
	for range cfg.Writers {
		writers.Go(func() {
			for b := range batches {
				if err := load.Add(ctx, b); err != nil {
					writeErr <- err
					for range batches { // drain, so the generator never blocks
					}
					return
				}
				written <- len(b)
			}
		})
	}
	done := 0
	progress := make(chan struct{})
	go func() {
		defer close(progress)
		for n := range written {
			done += n
			bar.set(done)
		}
	}()
	closeBatches := sync.OnceFunc(func() { close(batches); writers.Wait(); close(written); <-progress })
	defer closeBatches() // on an early return too: no writer is left behind
	buf := make([]healthcode.CheckIn, 0, cfg.Batch)
	failed := func() error {
		select {
		case err := <-writeErr:
			return err
		default:
			return nil
		}
	}
	flush := func() error {
		if err := failed(); err != nil {
			return fmt.Errorf("check-ins: %w", err)
		}
		batches <- buf
		buf = make([]healthcode.CheckIn, 0, cfg.Batch)
		return nil
	}
	first := now.Add(-time.Duration(cfg.Days) * 24 * time.Hour).Truncate(24 * time.Hour)
	seq := 0
	for d := 0; d < cfg.Days; d++ {
		day := first.Add(time.Duration(d) * 24 * time.Hour)
		for r := 0; r < cfg.Residents; r++ {
			for k := 0; k < cfg.PerDay; k++ {
				var vi int
				if k < regulars && rng.Float64() < 0.8 {
					vi = int(routine[r*regulars+k])
				} else {
					vi = pop.next()
				}
				v := venues[vi]
				hour := v.hour + rng.NormFloat64()*1.5
				at := day.Add(time.Duration(math.Max(0, math.Min(23.99, hour)) * float64(time.Hour))).Truncate(time.Second)
				if at.After(now) {
					at = now.Add(-time.Duration(rng.IntN(3600)) * time.Second)
				}
				seq++
				buf = append(buf, healthcode.CheckIn{ID: fmt.Sprintf("lg%d-%012d", cfg.Seed, seq), Subject: subjects[r], Issuer: cfg.Region,
					VenueID: v.id, Checkpoint: "loadgen", At: at, Decision: healthcode.Admit, Color: healthcode.Green, Mode: healthcode.ModeCheckpoint})
				if len(buf) == cfg.Batch {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	}
	if len(buf) > 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	closeBatches()
	if err := failed(); err != nil {
		return fmt.Errorf("check-ins: %w", err)
	}
	bar.done()
	inserted := time.Since(start)
	deferred := load.DefersIndexes()
	if err := load.Finish(ctx); err != nil {
		return fmt.Errorf("check-ins: %w", err)
	}
	el := time.Since(start)
	fmt.Fprintf(stdout, "check-ins: %d in %s (%.0f check-ins/s)", total, el.Round(time.Millisecond), float64(total)/el.Seconds())
	if deferred {
		fmt.Fprintf(stdout, "; inserting %s, building the indexes %s", inserted.Round(time.Millisecond), (el - inserted).Round(time.Millisecond))
	}
	fmt.Fprintln(stdout)
	return nil
}

type loadgenVenue struct {
	id   int64
	hour float64
}

func pickVenueType(rng *rand.Rand) struct {
	t     healthcode.VenueType
	share float64
	hour  float64
} {
	x := rng.Float64()
	for _, vt := range loadgenVenueTypes {
		if x < vt.share {
			return vt
		}
		x -= vt.share
	}
	return loadgenVenueTypes[len(loadgenVenueTypes)-1]
}

// loadgenResident makes the i-th synthetic resident: a valid resident ID
// number whose sequence part is unique per index, and a unique phone.
func loadgenResident(rng *rand.Rand, seed uint64, i int) *healthcode.Resident {
	// The number is region + birth date + a 3-digit sequence whose parity is
	// the sex. Index i picks the region (i mod 10); the rest of i picks a
	// sequence (500 per sex) and a birth date, so every i gets its own number
	// up to 10 x 500 x 25,000 residents.
	region := loadgenDistricts[i%len(loadgenDistricts)]
	idx := i / len(loadgenDistricts)
	sex := healthcode.Male
	if i%2 == 1 {
		sex = healthcode.Female
	}
	seq := idx % 500 * 2
	if sex == healthcode.Male {
		seq++
	}
	birth := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, (idx/500)%25000)
	first := fmt.Sprintf("%s%s%03d", region, birth.Format("20060102"), seq)
	name := string(loadgenSurnames[rng.IntN(len(loadgenSurnames))]) + string(loadgenGiven[rng.IntN(len(loadgenGiven))])
	if rng.IntN(2) == 0 {
		name += string(loadgenGiven[rng.IntN(len(loadgenGiven))])
	}
	return &healthcode.Resident{Name: name, Sex: sex, BirthDate: birth, Nationality: "CHN", IDType: healthcode.ResidentIDCard,
		IDNumber: first + string(healthcode.ResidentIDCheckChar(first)), Phone: fmt.Sprintf("1%d%09d", 3+seed%7, i),
		Region: region, Address: fmt.Sprintf("合成地址 %d 号", i)}
}

// zipf picks indexes 0..n-1 with probability proportional to 1/(k+1)^s, by
// inverse CDF over a precomputed table.
type zipf struct {
	rng *rand.Rand
	cdf []float64
}

func newZipf(rng *rand.Rand, n int, s float64) *zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		cdf[k] = sum
	}
	for k := range cdf {
		cdf[k] /= sum
	}
	return &zipf{rng: rng, cdf: cdf}
}

func (z *zipf) next() int {
	x := z.rng.Float64()
	lo, hi := 0, len(z.cdf)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if z.cdf[mid] < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// progress draws a one-line progress bar with the rate on a terminal (or
// whatever stderr is).
type progress struct {
	w     io.Writer
	what  string
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, what string, total int) *progress {
	return &progress{w: w, what: what, total: total, start: time.Now()}
}

func (p *progress) set(n int) {
	if time.Since(p.last) < 200*time.Millisecond && n < p.total {
		return
	}
	p.last = time.Now()
	frac := float64(n) / float64(max(p.total, 1))
	filled := int(frac * 30)
	bar := make([]byte, 30)
	for i := range bar {
		if i < filled {
			bar[i] = '#'
		} else {
			bar[i] = '.'
		}
	}
	rate := float64(n) / time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%-10s [%s] %5.1f%% %d/%d %.0f/s", p.what, bar, frac*100, n, p.total, rate)
}

func (p *progress) done() { p.set(p.total); fmt.Fprintln(p.w) }

// loadgenSessions signs in the residents for a day and writes the session
// tokens to path, mode 0600: they are credentials.
func loadgenSessions(ctx context.Context, db *sqlstore.DB, ids []int64, path string, stdout io.Writer) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	now := time.Now()
	for _, id := range ids {
		secret, sum, err := secure.NewSecret("hcs_")
		if err != nil {
			return err
		}
		if err := db.CreateSession(ctx, &healthcode.Session{ResidentID: id, Hash: sum, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
		fmt.Fprintln(w, secret)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	fmt.Fprintf(stdout, "sessions: %d written to %s\n", len(ids), path)
	return nil
}

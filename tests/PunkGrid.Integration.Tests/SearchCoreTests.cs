using PunkGrid.Server.Search;

namespace PunkGrid.Integration.Tests;

/// <summary>
/// The search core (issue 28): the space's grammar, drawing and grid, and ASHA's decisions as the paper defines them —
/// and, simulated on learning curves whose ranking holds from the first epoch, what ASHA saves against random search.
/// </summary>
public sealed class SearchCoreTests
{
    [Fact]
    public void A_space_parses_each_kind_of_dimension_and_draws_within_it()
    {
        var space = SearchSpace.Parse(["learning_rate=loguniform(1e-4, 1e-1)", "dropout=uniform(0,0.5)", "batch_size=choice(32,64,128)", "Epochs=int(2,4)"]);
        Assert.Equal(["learning_rate", "dropout", "batch_size", "epochs"], space.Dimensions.Select(d => d.Name));
        var random = new Random(7);
        for (var i = 0; i < 200; i++)
        {
            var config = space.Sample(random);
            var lr = double.Parse(config["learning_rate"], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(lr, 1e-4, 1e-1);
            Assert.InRange(double.Parse(config["dropout"], System.Globalization.CultureInfo.InvariantCulture), 0, 0.5);
            Assert.Contains(config["batch_size"], new[] { "32", "64", "128" });
            Assert.Contains(config["epochs"], new[] { "2", "3", "4" });
        }
        // The same seed draws the same configurations (a search rebuilt after a restart draws what it drew before).
        Assert.Equal(SearchSpace.Parse(["x=uniform(0,1)"]).Sample(new Random(3))["x"], SearchSpace.Parse(["x=uniform(0,1)"]).Sample(new Random(3))["x"]);
        // Log-uniform: about as many draws in each decade.
        var draws = Enumerable.Range(0, 3000).Select(_ => Math.Log10(double.Parse(space.Dimensions[0].Sample(random), System.Globalization.CultureInfo.InvariantCulture))).ToList();
        Assert.All(new[] { -4.0, -3.0, -2.0 }, decade => Assert.InRange(draws.Count(d => d >= decade && d < decade + 1), 850, 1150));
    }

    [Theory]
    [InlineData("lr=normal(0,1)", "search dimension 'lr=normal(0,1)' is not allowed: name=choice(a,b,…), name=uniform(lo,hi), name=loguniform(lo,hi) or name=int(lo,hi)")]
    [InlineData("lr=loguniform(0,1)", "takes two numbers lo < hi, lo above zero")]
    [InlineData("lr=uniform(1,1)", "takes two numbers lo < hi")]
    [InlineData("n=int(5,2)", "int takes two whole numbers lo <= hi")]
    [InlineData("c=choice(a,,b)", "choice takes one or more values, none empty")]
    public void A_bad_dimension_is_refused_naming_it_and_what_is_allowed(string item, string expected) =>
        Assert.Contains(expected, Assert.Throws<ArgumentException>(() => SearchSpace.Parse([item])).Message);

    [Fact]
    public void A_grid_enumerates_choices_and_small_int_ranges_and_refuses_continuous_or_huge_ones()
    {
        var grid = SearchSpace.Parse(["a=choice(x,y)", "b=int(1,3)"]).Grid(100);
        Assert.Equal(["x1", "x2", "x3", "y1", "y2", "y3"], grid.Select(c => c["a"] + c["b"]));
        var space = SearchSpace.Parse(["a=choice(x,y)", "b=int(1,3)", "c=choice(p,q)"]);
        // Any configuration by its number, the first dimension slowest: what a grid search's trial N takes.
        Assert.Equal(["x1p", "x1q", "x2p", "x2q", "x3p", "x3q", "y1p", "y1q", "y2p", "y2q", "y3p", "y3q"],
            Enumerable.Range(0, 12).Select(i => space.GridConfiguration(i)).Select(c => c["a"] + c["b"] + c["c"]));
        Assert.Contains("cannot enumerate 'lr'", Assert.Throws<ArgumentException>(() => SearchSpace.Parse(["lr=uniform(0,1)"]).Grid(100)).Message);
        Assert.Contains("the grid has 200 configurations; at most 100", Assert.Throws<ArgumentException>(() => SearchSpace.Parse(["a=int(1,20)", "b=int(1,10)"]).Grid(100)).Message);
    }

    [Fact]
    public void Rungs_are_min_epochs_times_powers_of_eta_ending_at_max_epochs()
    {
        Assert.Equal([1, 3, 9, 27], new AshaSettings(1, 27, 3, 10, true).RungEpochs);
        Assert.Equal([2, 8, 20], new AshaSettings(2, 20, 4, 10, true).RungEpochs);
        Assert.Equal([5], new AshaSettings(5, 5, 3, 10, true).RungEpochs);
        Assert.Equal("reduction factor 1 is not allowed: 2 to 16", new AshaSettings(1, 9, 1, 10, true).Invalid());
    }

    private static AshaTrial Trial(int id, int rung, params double[] results) =>
        new(id, rung, results.Select((r, k) => (k, r)).ToDictionary(x => x.k, x => x.r));

    [Fact]
    public void A_free_slot_promotes_a_trial_in_the_top_third_of_its_rung_else_starts_a_new_one()
    {
        var settings = new AshaSettings(1, 9, 3, 10, HigherIsBetter: true);
        // Two trials done at rung 0: 2/3 rounds down to none promotable yet.
        Assert.IsType<AshaDecision.NewTrial>(Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 0, 0.9)]));
        // The third makes one promotion due: the best.
        Assert.Equal(new AshaDecision.Promote(2, 1, 3), Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 0, 0.9), Trial(3, 0, 0.7)]));
        // Promoted already: the next due is none (1 of 3), so a new trial.
        Assert.IsType<AshaDecision.NewTrial>(Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 1, 0.9), Trial(3, 0, 0.7)]));
        // Lower is better (Punk-FID): the lowest goes up.
        Assert.Equal(new AshaDecision.Promote(1, 1, 3), Asha.Next(settings with { HigherIsBetter = false }, [Trial(1, 0, 0.5), Trial(2, 0, 0.9), Trial(3, 0, 0.7)]));
        // A due promotion from the higher rung comes first.
        var six = new[] { Trial(1, 1, 0.5, 0.6), Trial(2, 1, 0.9, 0.95), Trial(3, 1, 0.7, 0.8), Trial(4, 0, 0.1), Trial(5, 0, 0.2), Trial(6, 0, 0.3) };
        Assert.Equal(new AshaDecision.Promote(2, 2, 9), Asha.Next(settings, six));
    }

    [Fact]
    public void With_every_trial_started_it_waits_for_the_running_ones_then_finishes()
    {
        var settings = new AshaSettings(1, 9, 3, 3, HigherIsBetter: true);
        Assert.IsType<AshaDecision.Wait>(Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 0), Trial(3, 0, 0.7)]));
        var promoted = Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 0, 0.9), Trial(3, 0, 0.7)]);
        Assert.Equal(new AshaDecision.Promote(2, 1, 3), promoted);
        Assert.IsType<AshaDecision.Wait>(Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 1, 0.9), Trial(3, 0, 0.7)]));
        // Trial 2 done at rung 1: one of one at rung 1 → 1/3 rounds down; nothing due, nothing running.
        Assert.IsType<AshaDecision.Finished>(Asha.Next(settings, [Trial(1, 0, 0.5), Trial(2, 1, 0.9, 0.93), Trial(3, 0, 0.7)]));
    }

    /// <summary>
    /// Simulated on curves whose ranking holds from the first epoch, with 4 slots: ASHA finds a configuration as good as
    /// random search's best with the same trials, spending at most a third of its epochs.
    /// </summary>
    [Fact]
    public void Simulated_ASHA_matches_random_search_at_a_third_of_the_epochs()
    {
        const int trials = 27, slots = 4;
        var settings = new AshaSettings(1, 27, 3, trials, HigherIsBetter: true);
        var quality = Enumerable.Range(0, trials).Select(i => new Random(100 + i).NextDouble()).ToList();
        double Curve(int trial, int epochs) => quality[trial] * (1 - Math.Exp(-epochs / 5.0));

        var randomEpochs = trials * settings.MaxEpochs;
        var randomBest = Enumerable.Range(0, trials).Max(t => Curve(t, settings.MaxEpochs));

        // Event-driven: each slot runs one decision at a time; a decision takes as many time units as epochs it trains.
        var state = new Dictionary<int, AshaTrial>();
        var running = new List<(int Trial, int Rung, int Epochs, int Done)>();
        var (time, asha) = (0, 0);
        while (true)
        {
            while (running.Count < slots && Asha.Next(settings, state.Values) is var decision && decision is AshaDecision.Promote or AshaDecision.NewTrial)
            {
                var (id, rung, epochs, from) = decision switch
                {
                    AshaDecision.Promote p => (p.TrialId, p.Rung, p.Epochs, settings.RungEpochs[p.Rung - 1]),
                    AshaDecision.NewTrial n => (state.Count, 0, n.Epochs, 0),
                    _ => throw new InvalidOperationException(),
                };
                state[id] = new AshaTrial(id, rung, state.TryGetValue(id, out var t) ? t.Results : new Dictionary<int, double>());
                asha += epochs - from; // a promoted trial continues from its checkpoint: no epoch trained twice
                running.Add((id, rung, epochs, time + epochs - from));
            }
            if (running.Count == 0)
            {
                Assert.IsType<AshaDecision.Finished>(Asha.Next(settings, state.Values));
                break;
            }
            var next = running.MinBy(r => r.Done);
            running.Remove(next);
            time = next.Done;
            state[next.Trial] = state[next.Trial] with { Results = new Dictionary<int, double>(state[next.Trial].Results) { [next.Rung] = Curve(next.Trial, next.Epochs) } };
        }
        var best = state.Values.Where(t => t.Results.ContainsKey(settings.RungEpochs.Count - 1)).Max(t => t.Results[settings.RungEpochs.Count - 1]);
        Assert.Equal(trials, state.Count);
        Assert.True(best >= randomBest - 1e-9, $"ASHA's best {best:F4} against random search's {randomBest:F4}");
        Assert.True(asha * 3 <= randomEpochs, $"ASHA trained {asha} epochs against random search's {randomEpochs}");
    }
}

namespace PunkGrid.Server.Search;

/// <summary>
/// Asynchronous successive halving (Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020):
/// rungs at <see cref="MinEpochs"/>·η^k epochs up to <see cref="MaxEpochs"/>; whenever a slot is free, the best trial of
/// the highest rung that is in the top 1/η of that rung and not yet promoted goes up one rung (continuing from its
/// checkpoint), else a new trial starts at the bottom rung, until <see cref="MaxTrials"/> trials have started.
/// </summary>
public sealed record AshaSettings(int MinEpochs, int MaxEpochs, int ReductionFactor, int MaxTrials, bool HigherIsBetter)
{
    /// <summary>What is wrong with the settings, naming each value and what is allowed; null when nothing is.</summary>
    public string? Invalid() =>
        MinEpochs < 1 ? $"min_epochs {MinEpochs} is not allowed: 1 or more"
        : MaxEpochs < MinEpochs ? $"max_epochs {MaxEpochs} is not allowed: at least min_epochs ({MinEpochs})"
        : ReductionFactor is < 2 or > 16 ? $"reduction factor {ReductionFactor} is not allowed: 2 to 16"
        : MaxTrials < 1 ? $"max_trials {MaxTrials} is not allowed: 1 or more"
        : null;

    /// <summary>The epochs a trial has trained when it completes each rung: r, rη, rη², … below R, then R.</summary>
    public IReadOnlyList<int> RungEpochs
    {
        get
        {
            var rungs = new List<int>();
            for (long epochs = MinEpochs; epochs < MaxEpochs; epochs *= ReductionFactor)
            {
                rungs.Add((int)epochs);
            }
            rungs.Add(MaxEpochs);
            return rungs;
        }
    }
}

/// <summary>
/// A trial as ASHA sees it: the rung it was last sent to (<see cref="Rung"/>) and its metric at each rung it completed.
/// It is running while it has no result for its own rung and has not <see cref="Failed"/> (its job failed or was cancelled,
/// or it stored no value of the metric): a failed trial is never promoted and never waited for.
/// </summary>
public sealed record AshaTrial(int Id, int Rung, IReadOnlyDictionary<int, double> Results, bool Failed = false)
{
    public bool Running => !Failed && !Results.ContainsKey(Rung);
}

/// <summary>What to do with a free slot.</summary>
public abstract record AshaDecision
{
    /// <summary>Train <see cref="TrialId"/> on from its checkpoint to <see cref="Epochs"/> (rung <see cref="Rung"/>).</summary>
    public sealed record Promote(int TrialId, int Rung, int Epochs) : AshaDecision;

    /// <summary>Start a new trial (a new configuration) and train it to <see cref="Epochs"/> (the bottom rung).</summary>
    public sealed record NewTrial(int Epochs) : AshaDecision;

    /// <summary>Nothing to start now: every trial has started and the running ones may yet make a promotion due.</summary>
    public sealed record Wait : AshaDecision;

    /// <summary>Nothing runs and nothing is due: the search is over.</summary>
    public sealed record Finished : AshaDecision;
}

public static class Asha
{
    /// <summary>The paper's <c>get_job</c>: a promotion from the highest rung that has one due, else a new trial, else wait or finish.</summary>
    public static AshaDecision Next(AshaSettings settings, IReadOnlyCollection<AshaTrial> trials)
    {
        var rungs = settings.RungEpochs;
        for (var k = rungs.Count - 2; k >= 0; k--)
        {
            var completed = trials.Where(t => t.Results.ContainsKey(k)).ToList();
            var top = Ranked(completed, k, settings.HigherIsBetter).Take(completed.Count / settings.ReductionFactor);
            if (top.FirstOrDefault(t => t.Rung == k) is { } promotable)
            {
                return new AshaDecision.Promote(promotable.Id, k + 1, rungs[k + 1]);
            }
        }
        if (trials.Count < settings.MaxTrials)
        {
            return new AshaDecision.NewTrial(rungs[0]);
        }
        return trials.Any(t => t.Running) ? new AshaDecision.Wait() : new AshaDecision.Finished();
    }

    /// <summary>A rung's trials best first (ties: the earlier trial first, so every silo ranks them alike).</summary>
    public static IEnumerable<AshaTrial> Ranked(IEnumerable<AshaTrial> trials, int rung, bool higherIsBetter) =>
        (higherIsBetter ? trials.OrderByDescending(t => t.Results[rung]) : trials.OrderBy(t => t.Results[rung])).ThenBy(t => t.Id);
}

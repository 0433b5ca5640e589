using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Optimizers;

/// <summary>
/// TorchSharp's <see cref="TorchSharp.Modules.Adam"/> (same state, same checkpoints, bit-identical updates) whose step keeps each
/// <see cref="Scalar"/> it hands to libtorch alive until the call returns, then disposes it.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's step passes numbers as implicitly converted <see cref="Scalar"/>s (<c>value: -step_size</c>) that
/// nothing references once their native handle is read; a garbage collection during the native call lets the finalizer
/// thread free the scalar libtorch is still reading. The update then uses freed memory: usually unnoticed, sometimes
/// "Expected false to be true … toFloat" when the bytes read overflow a float (seen twice in a day of search trials with
/// two jobs in one silo; <c>OptimizerTests</c> reproduces it with TorchSharp's optimizer under collections).
/// Upstream: dotnet/TorchSharp pull requests 1434 and 1496 (open) dispose such scalars. The class is named Adam because
/// TorchSharp writes the optimizer's type name into its saved state and refuses another on load: checkpoints written by
/// either optimizer resume with the other.
/// </remarks>
public sealed class Adam : TorchSharp.Modules.Adam
{
    public Adam(IEnumerable<TorchSharp.Modules.Parameter> parameters, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0)
        : base(parameters, lr, beta1, beta2, eps, weight_decay)
    {
    }

    public Adam(IEnumerable<ParamGroup> groups, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0)
        : base(groups, lr, beta1, beta2, eps, weight_decay)
    {
    }

    /// <summary>Adam's update as TorchSharp computes it (the same operations in the same order), every scalar held by a <c>using</c>.</summary>
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        var (beta1, beta2, eps, weightDecay) = (options.beta1!.Value, options.beta2!.Value, options.eps!.Value, options.weight_decay!.Value);
        var (amsgrad, maximize, lr) = (options.amsgrad!.Value, options.maximize!.Value, options.LearningRate!.Value);
        using var one = 1.ToScalar();
        using var beta1Scalar = beta1.ToScalar();
        using var beta2Scalar = beta2.ToScalar();
        using var oneMinusBeta1 = (1 - beta1).ToScalar();
        using var oneMinusBeta2 = (1 - beta2).ToScalar();
        using var epsScalar = eps.ToScalar();
        using var weightDecayScalar = weightDecay.ToScalar();
        foreach (var param in group.Parameters)
        {
            var state = (State)_state[param.Handle];
            var grad = param.grad;
            if (grad is null)
            {
                continue;
            }

            if (maximize)
            {
                grad = grad.neg();
            }

            state.step += 1;
            var biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            var biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            if (weightDecay != 0)
            {
                grad = grad.add(param, weightDecayScalar);
            }

            state.exp_avg.mul_(beta1Scalar).add_(grad, oneMinusBeta1);
            state.exp_avg_sq.mul_(beta2Scalar).addcmul_(grad, grad.conj(), oneMinusBeta2);
            using var sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
            Tensor denominator;
            if (amsgrad)
            {
                var previous = state.max_exp_avg_sq;
                state.max_exp_avg_sq = maximum(previous, state.exp_avg_sq).DetachFromDisposeScope();
                previous.Dispose();
                denominator = state.max_exp_avg_sq.sqrt().div(sqrtBiasCorrection2).add_(epsScalar, one);
            }
            else
            {
                denominator = state.exp_avg_sq.sqrt().div(sqrtBiasCorrection2).add_(epsScalar, one);
            }

            using var stepSize = (-(lr / biasCorrection1)).ToScalar();
            param.addcdiv_(state.exp_avg, denominator, stepSize);
        }
    }, closure);
}

using TorchSharp;
using static TorchSharp.torch;

namespace PunkGrid.Training.Optimizers;

/// <summary>
/// TorchSharp's <see cref="TorchSharp.Modules.Adagrad"/> (same state, same checkpoints, bit-identical updates) whose step
/// keeps each <see cref="Scalar"/> it hands to libtorch alive until the call returns: see <see cref="Adam"/> for why, and
/// for why it carries TorchSharp's class name.
/// </summary>
public sealed class Adagrad : TorchSharp.Modules.Adagrad
{
    public Adagrad(IEnumerable<TorchSharp.Modules.Parameter> parameters, double lr = 1e-2, double lr_decay = 0, double weight_decay = 0, double initial_accumulator_value = 0, double eps = 1e-10)
        : base(parameters, lr, lr_decay, weight_decay, initial_accumulator_value, eps)
    {
    }

    /// <summary>Adagrad's update as TorchSharp computes it, every scalar held by a <c>using</c>.</summary>
    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = (Options)group.Options;
        var (lrDecay, weightDecay, eps, lr) = (options.lr_decay!.Value, options.weight_decay!.Value, options.eps!.Value, options.LearningRate!.Value);
        using var one = 1.ToScalar();
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

            state.step += 1;
            if (weightDecay != 0)
            {
                grad = grad.add(param, weightDecayScalar);
            }

            if (grad.is_sparse || is_complex(grad))
            {
                throw new NotSupportedException("Adagrad over sparse or complex parameters");
            }

            var clr = lr / (1 + ((state.step - 1) * lrDecay));
            state.sum.addcmul_(grad, grad, one);
            var std = state.sum.sqrt().add_(epsScalar, one);
            using var stepSize = (-clr).ToScalar();
            param.addcdiv_(grad, std, stepSize);
        }
    }, closure);
}

#pragma once
// A linear map y = A x applied to T tokens at once (rows of X). The transformer's MLP calls
// its matrices through this interface so a dense HF weight can be swapped for a
// block-circulant one (or a zero matrix) without the model knowing.
namespace circal {

class LinearOperator {
 public:
  virtual ~LinearOperator() = default;
  virtual int in_features() const = 0;
  virtual int out_features() const = 0;
  // Y[T, out] = X[T, in] A^T (row-major, overwrites Y).
  virtual void forward(const float* X, float* Y, int T) = 0;
  // dX[T, in] = dY[T, out] A (overwrites dX; nullptr when nobody needs it, e.g. below the
  // first trained layer). Operators with trainable parameters also accumulate (+=) their
  // parameter gradient into their own gradient buffer, from X and dY. X must be the X of
  // the latest forward(), unchanged since: like autograd's saved tensors, an operator may
  // reuse what it derived from X then (the circulant keeps X's spectrum).
  virtual void backward(const float* X, const float* dY, float* dX, int T) = 0;
};

}  // namespace circal

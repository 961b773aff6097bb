"""Parameters move with the model: to(device), cpu(), double()/float()/half()."""
import torch
import torch.nn as nn

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
model.to(device)
print(model[0].weight.device.type == device.type)
model.double()
print(model[0].weight.dtype == torch.float64, model[1].running_mean.dtype == torch.double,
      model[1].num_batches_tracked.dtype == torch.int64)
model.half()
print(model[0].weight.dtype == torch.float16)
model.float()
print(model[0].weight.dtype == torch.float32)
model.cpu()
print(model[0].weight.device)
